/**
 * The command table: the order here is the order of `mdevsim help`. Every
 * row is light to load; what a command needs beyond the control client
 * (device models, the vfio-user client, the trace reader) it imports on use.
 */
import type { Command } from '../command.ts';
import { serve } from './serve.ts';
import { types } from './types.ts';
import { create } from './create.ts';
import { remove } from './remove.ts';
import { list } from './list.ts';
import { describe } from './describe.ts';
import { setResolution } from './set-resolution.ts';
import { screenshot } from './screenshot.ts';
import { snapshot } from './snapshot.ts';
import { restore } from './restore.ts';
import { replay } from './replay.ts';
import { vnc } from './vnc.ts';
import { define } from './define.ts';
import { undefine } from './undefine.ts';
import { modify } from './modify.ts';
import { start } from './start.ts';
import { stop } from './stop.ts';

export const COMMANDS: readonly Command[] = [serve, types, create, remove, list, describe, setResolution, screenshot, snapshot, restore, define, undefine, modify, start, stop, vnc, replay];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}
