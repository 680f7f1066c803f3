/**
 * The flags of the definition commands (define, modify, undefine, list
 * --defined), light to load: the command table imports them, the work
 * (src/cli/definitions.ts) is imported when a command runs.
 */
import { COMMON, EDID_VRAM_HELP, type CommonValues } from './args.ts';
import { defaultConfigDir } from './paths.ts';

/** Flags of define and modify (mdevctl's short forms where it has them). */
export const DEFINITION_FLAGS = {
  ...COMMON,
  'config-dir': { type: 'string', value: 'DIR', help: `the definitions when no server runs (default: ${defaultConfigDir()})` },
  type: { type: 'string', short: 't', value: 'TYPE', help: 'the mdev type (mdevctl -t)' },
  uuid: { type: 'string', short: 'u', value: 'UUID', help: 'the device UUID (mdevctl -u; default: a random one)' },
  parent: { type: 'string', short: 'p', value: 'mdevsim', help: 'mdevctl\'s parent: mdevsim devices have the one pseudo-parent "mdevsim"' },
  name: { type: 'string', value: 'NAME', help: 'the device name, and its socket DIR/NAME.sock (default: TYPE-N)' },
  auto: { type: 'boolean', help: 'serve starts it (mdevctl --auto)' },
  manual: { type: 'boolean', help: 'only "mdevsim start" starts it (mdevctl --manual; the default)' },
  resolution: { type: 'string', value: 'WxH', help: 'EDID preferred mode (mbochs); "default" clears it' },
  'no-edid': { type: 'boolean', help: 'keep the sample\'s initial EDID state (mbochs)' },
  'edid-vram': { type: 'string', value: 'half|full', help: `${EDID_VRAM_HELP} (default: serve's; "default" clears it)` },
  quirks: { type: 'string', value: 'none|upstream', help: 'reproduce the samples\' bugs, or not' },
  vbe: { type: 'string', value: 'sample|strict', help: 'mbochs VBE register checks' },
  restore: { type: 'string', value: 'FILE', help: 'restore the device from this snapshot when it starts ("none" clears it)' },
  'socket-group': { type: 'string', value: 'GROUP', help: 'group of its sockets (default: serve\'s)' },
  'socket-mode': { type: 'string', value: 'MODE', help: 'mode of its sockets (default: serve\'s)' },
  jsonfile: { type: 'string', value: 'FILE', help: 'define from an mdevctl-shaped JSON document {"mdev_type", "start", "attrs"}' },
} as const;

export type DefinitionValues = CommonValues & {
  'config-dir'?: string | undefined; type?: string | undefined; uuid?: string | undefined; parent?: string | undefined;
  name?: string | undefined; auto?: boolean | undefined; manual?: boolean | undefined; resolution?: string | undefined;
  'no-edid'?: boolean | undefined; 'edid-vram'?: string | undefined; quirks?: string | undefined; vbe?: string | undefined; restore?: string | undefined;
  'socket-group'?: string | undefined; 'socket-mode'?: string | undefined; jsonfile?: string | undefined;
};
