/**
 * Who uploaded which stored file, for the per-uploader quota and for retention that takes from the heaviest
 * uploader first. Files are content-addressed, so one file may belong to several uploaders (each is charged
 * for it). The ledger lives in memory: files stored before a restart have no owner, and retention removes
 * those first.
 */

export interface UploaderUsage {
  bytes: number;
  files: number;
  /** When this uploader's oldest file it still holds was uploaded (ms); null with no file. */
  oldestMs: number | null;
}

interface OwnedFile {
  size: number;
  /** uploader → when it last uploaded this content (ms) */
  owners: Map<string, number>;
}

export class UploadOwners {
  private readonly files = new Map<string, OwnedFile>();

  /** Charges `owner` for `name`. Returns false when it already held that file (nothing new to charge). */
  add(name: string, size: number, owner: string, at = Date.now()): boolean {
    let f = this.files.get(name);
    if (!f) {
      f = { size, owners: new Map() };
      this.files.set(name, f);
    }
    const had = f.owners.has(owner);
    f.owners.set(owner, at);
    return !had;
  }

  /** Takes `name` off `owner` (rolling back add()); a file left without owners leaves the ledger. */
  release(name: string, owner: string): void {
    const f = this.files.get(name);
    if (!f) return;
    f.owners.delete(owner);
    if (f.owners.size === 0) this.files.delete(name);
  }

  /** The file is gone from disk. */
  forget(name: string): void {
    this.files.delete(name);
  }

  /** Keeps only the names in `present` (files removed behind the server's back). */
  retain(present: ReadonlySet<string>): void {
    for (const name of this.files.keys()) if (!present.has(name)) this.files.delete(name);
  }

  ownersOf(name: string): string[] {
    return [...(this.files.get(name)?.owners.keys() ?? [])];
  }

  owns(owner: string, name: string): boolean {
    return this.files.get(name)?.owners.has(owner) ?? false;
  }

  usage(owner: string): UploaderUsage {
    const u: UploaderUsage = { bytes: 0, files: 0, oldestMs: null };
    for (const f of this.files.values()) {
      const at = f.owners.get(owner);
      if (at === undefined) continue;
      u.bytes += f.size;
      u.files += 1;
      if (u.oldestMs === null || at < u.oldestMs) u.oldestMs = at;
    }
    return u;
  }
}
