/**
 * What a device model answers once it has been destroyed (the mdev removed).
 *
 * Both models use one errno for it: ENODEV, as the kernel's VFIO core does
 * for a device whose registration is gone (drivers/vfio: opening a device
 * that is being removed, or looking one up by name, fails with -ENODEV).
 * A client can then tell "this device is gone" from an I/O failure of a
 * live device, whatever the model.
 */
import { VfioError } from '../../src/util/errors.ts';

/** The error every call of a destroyed device throws; `op` names the call when the model knows it. */
export function destroyedError(name: string, op?: string): VfioError {
  return new VfioError('ENODEV', `${op === undefined ? '' : `${op}: `}${name} has been destroyed`);
}
