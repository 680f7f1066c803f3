/**
 * Category logger, quiet by default. MDEVSIM_LOG=pci,vfio-user (or "*") turns
 * categories on; warnings and errors always go to stderr.
 */
export type LogCategory = 'pci' | 'vfio' | 'vfio-user' | 'device' | 'native' | 'mgmt' | 'display' | 'vnc' | 'fuzz';

const enabled = new Set((process.env['MDEVSIM_LOG'] ?? '').split(',').map((s) => s.trim()).filter(Boolean));

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function logger(category: LogCategory): Logger {
  const on = enabled.has('*') || enabled.has(category);
  const emit = (level: string, message: string) => process.stderr.write(`mdevsim ${category} ${level}: ${message}\n`);
  return {
    debug: (m) => { if (on) emit('debug', m); },
    info: (m) => { if (on) emit('info', m); },
    warn: (m) => emit('warn', m),
    error: (m) => emit('error', m),
  };
}
