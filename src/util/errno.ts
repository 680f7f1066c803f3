/**
 * Linux errno numbers used by the VFIO uapi and vfio-user error replies.
 * Values are Linux x86/arm generic ones; a test checks them against os.constants.errno.
 */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EFAULT: 14,
  EBUSY: 16,
  ENODEV: 19,
  EEXIST: 17,
  EINVAL: 22,
  EMFILE: 24,
  ENOTTY: 25,
  ENOSPC: 28,
  ERANGE: 34,
  ENOSYS: 38,
  EMSGSIZE: 90,
  EPROTO: 71,
  EOVERFLOW: 75,
  EUSERS: 87,
  ENOTSUP: 95,
  ECONNRESET: 104,
  ETIMEDOUT: 110,
} as const;

export type ErrnoName = keyof typeof ERRNO;

const NAMES = new Map<number, ErrnoName>(
  (Object.entries(ERRNO) as [ErrnoName, number][]).map(([name, value]) => [value, name]),
);

/** Name for an errno value, or `E<number>` when it is not in the table. */
export function errnoName(errno: number): string {
  return NAMES.get(errno) ?? `E${errno}`;
}
