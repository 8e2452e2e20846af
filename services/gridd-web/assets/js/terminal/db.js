// What the terminal keeps on the device, in IndexedDB, one database per signed-in account (two
// members sharing a phone never see or send each other's tasks and queued actions):
//   kv         small values: the task feed's last seq, the map layers, the squad's name
//   tasks      the squad's current tasks (keyPath id), and markers of removed ones
//   outbox     actions waiting to be sent, in order (keyPath n, auto-increment), photos as Blobs
//   conflicts  actions the server refused, until the member dismisses them
// When IndexedDB cannot be opened (a private window of some browsers) the same interface keeps
// everything in memory: the app still works, it just forgets on reload.

const VERSION = 1;
const STORES = {
  kv: {},
  tasks: { keyPath: 'id' },
  outbox: { keyPath: 'n', autoIncrement: true },
  conflicts: { keyPath: 'n', autoIncrement: true },
};

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error || new Error('transaction aborted'));
    tx.onerror = () => reject(tx.error);
  });
}

/** The database of one account (`subject` is the signed-in user name). */
export async function openDb(subject) {
  const name = `gridd-terminal:${subject}`;
  try {
    if (!('indexedDB' in window)) throw new Error('no IndexedDB');
    const open = indexedDB.open(name, VERSION);
    open.onupgradeneeded = () => {
      const db = open.result;
      for (const [store, opts] of Object.entries(STORES)) {
        if (!db.objectStoreNames.contains(store)) db.createObjectStore(store, opts);
      }
    };
    const db = await request(open);
    // Another tab upgrading the schema: let it, this tab reloads with the new code anyway.
    db.onversionchange = () => db.close();
    return new IdbStore(db);
  } catch {
    return new MemoryStore();
  }
}

class IdbStore {
  constructor(db) {
    this.db = db;
    this.persistent = true;
  }

  async get(store, key) {
    const tx = this.db.transaction(store, 'readonly');
    return request(tx.objectStore(store).get(key));
  }

  async all(store) {
    const tx = this.db.transaction(store, 'readonly');
    return request(tx.objectStore(store).getAll());
  }

  /** Adds or replaces; answers the key (the new `n` of an auto-increment store). */
  async put(store, value, key) {
    const tx = this.db.transaction(store, 'readwrite');
    const req = key === undefined ? tx.objectStore(store).put(value) : tx.objectStore(store).put(value, key);
    const result = await request(req);
    await done(tx);
    return result;
  }

  async delete(store, key) {
    const tx = this.db.transaction(store, 'readwrite');
    tx.objectStore(store).delete(key);
    await done(tx);
  }

  /**
   * Several writes in one transaction (all or nothing): `ops` is a list of
   * ['put', store, value, key?] and ['delete', store, key].
   */
  async batch(ops) {
    if (!ops.length) return;
    const names = [...new Set(ops.map((o) => o[1]))];
    const tx = this.db.transaction(names, 'readwrite');
    for (const [op, store, a, b] of ops) {
      const s = tx.objectStore(store);
      if (op === 'put') {
        if (b === undefined) s.put(a);
        else s.put(a, b);
      } else {
        s.delete(a);
      }
    }
    await done(tx);
  }
}

class MemoryStore {
  constructor() {
    this.stores = Object.fromEntries(Object.keys(STORES).map((s) => [s, new Map()]));
    this.next = 1;
    this.persistent = false;
  }

  async get(store, key) {
    return clone(this.stores[store].get(key));
  }

  async all(store) {
    return [...this.stores[store].values()].map(clone);
  }

  async put(store, value, key) {
    const opts = STORES[store];
    let k = key;
    if (opts.keyPath) {
      if (opts.autoIncrement && value[opts.keyPath] === undefined) value[opts.keyPath] = this.next++;
      k = value[opts.keyPath];
    }
    this.stores[store].set(k, value);
    return k;
  }

  async delete(store, key) {
    this.stores[store].delete(key);
  }

  async batch(ops) {
    for (const [op, store, a, b] of ops) {
      if (op === 'put') await this.put(store, a, b);
      else await this.delete(store, a);
    }
  }
}

// Values read back are copies, as IndexedDB's are (Blobs are kept as they are).
function clone(v) {
  if (v === undefined || v === null || typeof v !== 'object') return v;
  if (v instanceof Blob) return v;
  if (Array.isArray(v)) return v.map(clone);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)]));
}
