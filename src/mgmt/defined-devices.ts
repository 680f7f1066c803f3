/**
 * Definitions put to work on a running server: start and stop defined
 * devices on the Manager, start every auto one when serve starts, and
 * reload the store on SIGHUP (new auto devices start; running ones are
 * left alone, modified ones take their change at their next start,
 * undefined ones run until stopped — and each of these is said).
 */
import { ConfigError } from '../util/errors.ts';
import { ManagerError, type CreateArgs, type CreatedInstance, type Manager } from './manager.ts';
import { toMdevctl, type Definition, type DefinitionChange, type DefinitionInput, type DefinitionProblem, type DefinitionStore } from './definitions.ts';

/** One line a reload says about a definition. */
export interface ReloadAction {
  readonly uuid: string;
  readonly name: string;
  readonly action: 'started' | 'running' | 'modified' | 'undefined' | 'failed';
  readonly message: string;
}

export function createArgs(d: Definition): CreateArgs {
  return {
    type: d.type, uuid: d.uuid, name: d.name,
    ...(d.quirks !== undefined ? { quirks: d.quirks } : {}),
    ...(d.vbe !== undefined ? { vbe: d.vbe } : {}),
    ...(d.resolution !== undefined ? { resolution: d.resolution } : {}),
    ...(d.noEdid ? { noEdid: true } : {}),
    ...(d.edidVram !== undefined ? { edidVram: d.edidVram } : {}),
    ...(d.socketGroup !== undefined ? { socketGroup: d.socketGroup } : {}),
    ...(d.socketMode !== undefined ? { socketMode: d.socketMode } : {}),
    ...(d.restore !== undefined ? { restore: d.restore } : {}),
  };
}

export class DefinedDevices {
  readonly store: DefinitionStore;
  readonly #manager: Manager;
  /** The definitions as loaded at the last start or reload, by UUID, to tell what changed. */
  #seen = new Map<string, string>();

  constructor(store: DefinitionStore, manager: Manager) {
    this.store = store;
    this.#manager = manager;
  }

  /** The store's contents, with the problems of files it skipped. */
  list(): { definitions: readonly Definition[]; problems: readonly DefinitionProblem[]; dir: string } {
    return { ...this.store.load(), dir: this.store.dir };
  }

  define(input: DefinitionInput): Definition {
    return this.store.define(input);
  }

  modify(ref: string, change: DefinitionChange): Definition {
    return this.store.modify(ref, change);
  }

  undefine(ref: string): Definition {
    return this.store.undefine(ref);
  }

  /** Create the defined device. @throws ManagerError EEXIST when it runs already. */
  start(ref: string): CreatedInstance {
    const d = this.store.find(ref);
    if (this.#running(d)) throw new ManagerError('EEXIST', `${d.name} (${d.uuid}) is running already.`);
    const created = this.#manager.create(createArgs(d));
    this.#seen.set(d.uuid, JSON.stringify(toMdevctl(d)));
    return created;
  }

  /** Remove the running device of a definition; the definition stays. */
  stop(ref: string): { name: string; uuid: string } {
    let uuid: string;
    try {
      uuid = this.store.find(ref).uuid;
    } catch (err) {
      // A device whose definition was removed runs until stopped: find it among the running ones.
      if (!(err instanceof ManagerError)) throw err;
      uuid = ref;
    }
    return this.#manager.remove(uuid);
  }

  /**
   * Start every auto definition that is not running. Returns what happened
   * to each, and the files skipped. A definition that fails to start (a
   * snapshot that no longer fits, a type whose budget is full) is reported
   * and the others start.
   */
  startAuto(): { actions: ReloadAction[]; problems: readonly DefinitionProblem[] } {
    const { definitions, problems } = this.store.load();
    const actions: ReloadAction[] = [];
    for (const d of definitions) {
      const text = JSON.stringify(toMdevctl(d));
      const before = this.#seen.get(d.uuid);
      if (this.#running(d)) {
        if (before !== undefined && before !== text) actions.push({ uuid: d.uuid, name: d.name, action: 'modified', message: `${d.name}: definition changed; it applies at the device's next start` });
        else actions.push({ uuid: d.uuid, name: d.name, action: 'running', message: `${d.name}: running, left alone` });
        continue;
      }
      this.#seen.set(d.uuid, text);
      if (d.start !== 'auto') continue;
      try {
        this.#manager.create(createArgs(d));
        actions.push({ uuid: d.uuid, name: d.name, action: 'started', message: `${d.name}: started (auto)` });
      } catch (err) {
        if (!(err instanceof ConfigError || err instanceof ManagerError)) throw err;
        actions.push({ uuid: d.uuid, name: d.name, action: 'failed', message: `${d.name}: not started: ${err.message}` });
      }
    }
    const uuids = new Set(definitions.map((d) => d.uuid));
    for (const i of this.#manager.list()) {
      if (this.#seen.has(i.uuid) && !uuids.has(i.uuid)) {
        actions.push({ uuid: i.uuid, name: i.name, action: 'undefined', message: `${i.name}: no longer defined; it keeps running until stopped` });
        this.#seen.delete(i.uuid);
      }
    }
    return { actions, problems };
  }

  #running(d: Definition): boolean {
    return this.#manager.list().some((i) => i.uuid === d.uuid);
  }
}
