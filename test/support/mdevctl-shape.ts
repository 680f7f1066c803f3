/**
 * The document `mdevctl list --dumpjson` prints, read the way a consumer of
 * mdevctl reads it, strictly: mdevctl 1.x src/main.rs format_json prints `[]`
 * when there are no devices and otherwise `[{PARENT: [{UUID: DEVICE}, …], …}]`
 * (one object of parents, each a list of one-key objects), where DEVICE is
 * src/mdev.rs MDev::to_json's `{"mdev_type": TYPE, "start": "auto"|"manual",
 * "attrs": [{NAME: VALUE}, …]}` with string values (mdevctl's fixture
 * testdata/list/defined.json has this structure, repeated attribute names
 * and an empty attrs list included). Anything else throws, naming where.
 */

export interface MdevctlListed {
  readonly parent: string;
  readonly uuid: string;
  readonly mdev_type: string;
  readonly start: 'auto' | 'manual';
  readonly attrs: ReadonlyArray<readonly [string, string]>;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function oneKey(v: unknown, where: string): [string, unknown] {
  if (!isObject(v) || Object.keys(v).length !== 1) throw new Error(`${where} is not an object with one key`);
  return Object.entries(v)[0]!;
}

/** Every device of a `list --dumpjson` document, in document order. */
export function parseMdevctlList(text: string): MdevctlListed[] {
  const doc: unknown = JSON.parse(text);
  if (!Array.isArray(doc)) throw new Error('the document is not a list');
  if (doc.length > 1) throw new Error('the document has more than one object of parents');
  const out: MdevctlListed[] = [];
  for (const [i, parents] of doc.entries()) {
    if (!isObject(parents) || Object.keys(parents).length === 0) throw new Error(`[${i}] is not a non-empty object of parents`);
    for (const [parent, children] of Object.entries(parents)) {
      if (!Array.isArray(children)) throw new Error(`${parent} is not a list of devices`);
      for (const [j, child] of children.entries()) {
        const [uuid, dev] = oneKey(child, `${parent}[${j}]`);
        if (!UUID_RE.test(uuid)) throw new Error(`${parent}[${j}]'s key ${uuid} is not a hyphenated lower-case UUID`);
        if (!isObject(dev)) throw new Error(`${uuid} is not an object`);
        const keys = Object.keys(dev).sort().join(',');
        if (keys !== 'attrs,mdev_type,start') throw new Error(`${uuid} has keys ${keys}, not attrs, mdev_type, start`);
        if (typeof dev['mdev_type'] !== 'string') throw new Error(`${uuid}.mdev_type is not a string`);
        if (dev['start'] !== 'auto' && dev['start'] !== 'manual') throw new Error(`${uuid}.start is not auto or manual`);
        if (!Array.isArray(dev['attrs'])) throw new Error(`${uuid}.attrs is not a list`);
        const attrs = dev['attrs'].map((a, k) => {
          const [name, value] = oneKey(a, `${uuid}.attrs[${k}]`);
          if (typeof value !== 'string') throw new Error(`${uuid}.attrs[${k}].${name} is not a string`);
          return [name, value] as const;
        });
        out.push({ parent, uuid, mdev_type: dev['mdev_type'], start: dev['start'], attrs });
      }
    }
  }
  return out;
}

/**
 * A document with the structure of mdevctl's testdata/list/defined.json (two
 * parents, the same UUID under both, an empty attrs list, an attribute name
 * given twice), with values of our own: what parseMdevctlList must accept.
 */
export const MDEVCTL_LIST_LIKE = JSON.stringify([{
  '0000:00:02.0': [
    { '11111111-2222-4333-8444-555555555555': { mdev_type: 'i915-GVTg_V5_4', start: 'auto', attrs: [] } },
    { '66666666-7777-4888-9999-000000000000': { mdev_type: 'vfio_ap-passthrough', start: 'manual', attrs: [{ assign_adapter: '1' }, { assign_adapter: '2' }, { assign_domain: '0x1' }] } },
  ],
  '0000:00:03.0': [
    { '66666666-7777-4888-9999-000000000000': { mdev_type: 'vfio_ap-passthrough', start: 'manual', attrs: [{ assign_domain: '0x1' }] } },
  ],
}], null, 2);
