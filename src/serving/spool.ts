/**
 * A spool directory of append-only JSON-lines files that several processes share (the workers of
 * `cairn serve`, a restarted server). Each process owns the files it writes, named
 * `<owner>.<seq>.jsonl`, and proves it is alive with `<owner>.alive` (its pid and host, touched
 * on a heartbeat). Files of an owner that is gone — no alive file, a pid that no longer runs on
 * this host, or a heartbeat older than `staleAfterMs` — are claimed by renaming them into the
 * claimer's own name; a rename is atomic, so exactly one process replays each file.
 *
 * Hand-off: a process that does not write to the store itself (a `cairn serve` worker) seals a
 * file by renaming it `<owner>.<seq>.sealed.jsonl` once it will append no more to it; any writing
 * process claims sealed files — of live owners too — by the same atomic rename into its own name,
 * so each sealed file is replayed by exactly one process.
 *
 * Crash safety: a line is appended with one write and never rewritten. A process killed during a
 * write leaves at most a torn last line, which has no newline and is ignored when read; after a
 * failed write the file is sealed, so a torn line is always the last. The spool directory must
 * be local to the machine (liveness is judged by pid on this host).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const SEGMENT = /^([A-Za-z0-9_-]+)\.(\d+)\.jsonl$/;
const ALIVE = /^([A-Za-z0-9_-]+)\.alive$/;
const SEALED = /^([A-Za-z0-9_-]+)\.(\d+)\.sealed\.jsonl$/;

/** One spool file being appended to. Appends are synchronous: once `append` returns, a kill -9 cannot take the lines back. */
export class SpoolWriter {
  private fd: number | null;
  private broken = false;

  constructor(readonly file: string) {
    this.fd = fs.openSync(file, 'a');
  }

  /**
   * Appends text (whole lines) with as few writes as the OS allows.
   * @throws the write's error; the writer then refuses further appends, so a partial line stays the last one
   */
  append(text: string): void {
    if (this.fd === null || this.broken) throw new Error(`spool file ${this.file} is sealed`);
    const bytes = Buffer.from(text, 'utf8');
    try {
      let done = 0;
      while (done < bytes.length) done += fs.writeSync(this.fd, bytes, done, bytes.length - done);
    } catch (err) {
      this.broken = true;
      throw err;
    }
  }

  /** Closes the file; its lines stay (in the page cache until the OS writes them). Never throws. */
  seal(): void {
    const fd = this.fd;
    if (fd === null) return;
    this.fd = null;
    try {
      fs.closeSync(fd);
    } catch {
      // Nothing was buffered in the process: every append already reached the kernel.
    }
  }
}

/** Forces a spool file's lines to disk, off the event loop, so they outlive a crash of the machine. Never rejects. */
export async function syncSpoolFile(file: string): Promise<void> {
  try {
    const handle = await fs.promises.open(file, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Gone (replayed meanwhile) or unreadable: the replay will say so.
  }
}

/** The complete lines of a spool file; a last line without its newline (torn by a kill) is left out. */
export async function readSpoolLines(file: string): Promise<{ lines: string[]; torn: boolean }> {
  const content = await fs.promises.readFile(file, 'utf8');
  const parts = content.split('\n');
  const last = parts.pop()!;
  return { lines: parts.filter((l) => l.trim() !== ''), torn: last !== '' };
}

function pidRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface SpoolOptions {
  /** An owner whose heartbeat is older than this is gone even if its pid runs (pid reuse). */
  staleAfterMs: number;
}

/** This process's view of a spool directory. */
export class Spool {
  /** This process's owner name: its files start with it. */
  readonly owner: string;
  private seq = 0;
  private readonly aliveFile: string;

  private constructor(
    readonly dir: string,
    private readonly opts: SpoolOptions,
  ) {
    this.owner = `p${process.pid}-${randomBytes(4).toString('hex')}`;
    this.aliveFile = path.join(dir, `${this.owner}.alive`);
  }

  /** Creates the directory and announces this owner. @throws when the directory cannot be written */
  static open(dir: string, opts: SpoolOptions): Spool {
    fs.mkdirSync(dir, { recursive: true });
    const spool = new Spool(dir, opts);
    fs.writeFileSync(spool.aliveFile, JSON.stringify({ pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString() }));
    return spool;
  }

  /** A fresh file name of this owner. */
  nextFile(): string {
    this.seq++;
    return path.join(this.dir, `${this.owner}.${String(this.seq).padStart(9, '0')}.jsonl`);
  }

  /** Refreshes this owner's heartbeat. Never throws. */
  async heartbeat(): Promise<void> {
    const now = new Date();
    await fs.promises.utimes(this.aliveFile, now, now).catch(async () => {
      // Someone removed it (a cleanup script): announce again rather than be taken for dead.
      await fs.promises.writeFile(this.aliveFile, JSON.stringify({ pid: process.pid, host: os.hostname() })).catch(() => {});
    });
  }

  private ownerAlive(owner: string): boolean {
    const file = path.join(this.dir, `${owner}.alive`);
    let stat: fs.Stats;
    let info: { pid?: number; host?: string };
    try {
      stat = fs.statSync(file);
      info = JSON.parse(fs.readFileSync(file, 'utf8')) as { pid?: number; host?: string };
    } catch {
      return false;
    }
    if (Date.now() - stat.mtimeMs > this.opts.staleAfterMs) return false;
    if (info.host === os.hostname() && typeof info.pid === 'number' && !pidRuns(info.pid)) return false;
    return true;
  }

  /** True when another live process writes to this directory (its records may not be in the store yet). */
  hasLiveSiblings(): boolean {
    try {
      return fs.readdirSync(this.dir).some((name) => {
        const m = ALIVE.exec(name);
        return m !== null && m[1] !== this.owner && this.ownerAlive(m[1]!);
      });
    } catch {
      return false;
    }
  }

  /**
   * Takes over the files of owners that are gone: each is renamed into this owner's name and
   * returned (oldest first), for the caller to replay. Never throws.
   */
  claimOrphans(): string[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir).sort();
    } catch {
      return [];
    }
    const verdict = new Map<string, boolean>();
    const alive = (owner: string) => {
      if (!verdict.has(owner)) verdict.set(owner, owner === this.owner || this.ownerAlive(owner));
      return verdict.get(owner)!;
    };
    const claimed: string[] = [];
    for (const name of names) {
      const m = SEGMENT.exec(name);
      if (!m || alive(m[1]!)) continue;
      const target = this.nextFile();
      try {
        fs.renameSync(path.join(this.dir, name), target);
        claimed.push(target);
      } catch {
        // Another process claimed it first.
      }
    }
    for (const name of names) {
      const m = ALIVE.exec(name);
      if (m && !alive(m[1]!)) fs.rmSync(path.join(this.dir, name), { force: true });
    }
    return claimed;
  }

  /**
   * Hands a file of this owner, no longer appended to, to whichever process writes to the store.
   * @throws the rename's error; the file then stays this owner's and becomes an orphan when it stops
   */
  seal(file: string): void {
    fs.renameSync(file, file.replace(/\.jsonl$/, '.sealed.jsonl'));
  }

  /** Takes over the sealed files of other owners, live or gone (oldest name first), for the caller to replay. Never throws. */
  claimSealed(): string[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir).sort();
    } catch {
      return [];
    }
    const claimed: string[] = [];
    for (const name of names) {
      if (!SEALED.test(name)) continue;
      const target = this.nextFile();
      try {
        fs.renameSync(path.join(this.dir, name), target);
        claimed.push(target);
      } catch {
        // Another writer claimed it first.
      }
    }
    return claimed;
  }

  /** Keeps lines the store refuses for a person to look at, under `rejected/`. Never throws. */
  reject(file: string, lines: string[]): void {
    if (lines.length === 0) return;
    try {
      const dir = path.join(this.dir, 'rejected');
      fs.mkdirSync(dir, { recursive: true });
      fs.appendFileSync(path.join(dir, path.basename(file)), lines.map((l) => `${l}\n`).join(''));
    } catch {
      // Nothing more can be done with them; the caller has logged them.
    }
  }

  /** Removes a file whose lines are all in the store. Never throws. */
  remove(file: string): void {
    try {
      fs.rmSync(file, { force: true });
    } catch {
      // Left behind, it is replayed again later: duplicates are ignored.
    }
  }

  /** Withdraws this owner: its remaining files become orphans that the next process replays. */
  close(): void {
    try {
      fs.rmSync(this.aliveFile, { force: true });
    } catch {
      // A stale heartbeat marks this owner gone soon enough.
    }
  }
}
