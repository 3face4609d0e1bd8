import { SdcKind, batchFromObjects, encodeBatch, encodeJsonBody, sealSdc, type Value } from '../../protocol/index.js';
import { createCentralTable, inferColumns } from '../../hub/central-tables.js';
import { HubDatabase } from '../../hub/db/hub-database.js';
import { migrate } from '../../hub/db/migrations.js';
import { IngestPipeline, type IngestOutcome } from '../../hub/ingest/ingest-pipeline.js';
import { CentreRegistry, type CentreStatusCode } from '../../hub/registry/centre-registry.js';
import type { PostgresCluster } from '../../scripts/services/postgres-cluster.js';
import { sampleActs } from './acts.js';
import { sdcFixture, type SdcFixture } from './sdc-fixture.js';
import type { Party } from './test-pki.js';

export interface CentreSetup {
  matricule: string;
  name?: string;
  city?: string;
  status?: CentreStatusCode;
  budgetUsd?: number;
}

export interface UsageLine {
  link: string;
  day: string;
  bytesUp?: number;
  bytesDown?: number;
  sessions?: number;
  airtimeMs?: number;
  costUsd: number;
}

/**
 * A migrated hub database fed through the real IngestPipeline, with a clock
 * the test sets: centres each with their own certificate, a births table,
 * and helpers that seal data SDCs and usage reports as an agent would.
 */
export class DashboardHub {
  private sequences = new Map<string, bigint>();
  private clock: Date;

  private constructor(readonly db: HubDatabase, readonly registry: CentreRegistry, readonly f: SdcFixture, readonly parties: Map<string, Party>, start: Date) {
    this.clock = start;
  }

  readonly now = (): Date => this.clock;
  readonly pipeline = (): IngestPipeline => new IngestPipeline({
    db: this.db, registry: this.registry, compressor: this.f.compressor, hubKey: this.f.pki.hub.key, hubCert: this.f.pki.hub.cert,
    dictionaries: (id) => (id === this.f.dictionary.id ? this.f.dictionary : undefined), now: this.now,
  });

  static async create(cluster: PostgresCluster, name: string, centres: CentreSetup[], start: Date): Promise<DashboardHub> {
    const f = await sdcFixture();
    const db = await HubDatabase.connect(await cluster.createDatabase(name), { max: 6 });
    await migrate(db);
    const registry = new CentreRegistry(db);
    await createCentralTable(db, 'births', inferColumns(sampleActs('births', 1000)));
    const parties = new Map<string, Party>();
    for (const c of centres) {
      await registry.add({ matricule: c.matricule, name: c.name ?? `Centre ${c.matricule}`, ...(c.city ? { city: c.city } : {}), ...(c.status !== undefined ? { status: c.status } : {}) });
      const party = f.pki.issue(c.matricule, 'centre');
      await registry.setCertificate(c.matricule, party.certPem);
      if (c.budgetUsd !== undefined) await registry.setBudget(c.matricule, c.budgetUsd);
      parties.set(c.matricule, party);
    }
    // Created well before the test's clock, so that "never heard from" is old enough to be an alert unless a test says otherwise.
    await db.query("UPDATE centres SET created_at = $1::timestamptz - interval '30 days'", [start]);
    return new DashboardHub(db, registry, f, parties, start);
  }

  setNow(at: Date | string): void {
    this.clock = new Date(at);
  }

  private nextSequence(matricule: string): bigint {
    const n = (this.sequences.get(matricule) ?? 0n) + 1n;
    this.sequences.set(matricule, n);
    return n;
  }

  seal(matricule: string, kind: number, body: Uint8Array, count: number, signer?: Party): Uint8Array {
    const party = signer ?? this.parties.get(matricule);
    if (!party) throw new Error(`no centre ${matricule} in this fixture`);
    return sealSdc(this.f.compressor, body, {
      kind: kind as never, sender: matricule, sequence: this.nextSequence(matricule), count,
      signerKey: party.key, signerCert: party.cert, recipientCert: this.f.pki.hub.cert, dictionary: this.f.dictionary,
    });
  }

  /** A data SDC of births `from`..`from + count - 1` (by position in the sample), each at record version 1. */
  async sendActs(matricule: string, o: { from?: number; count: number; via: string }): Promise<{ outcome: IngestOutcome; bytes: number }> {
    const rows = sampleActs('births', 5000).slice(o.from ?? 0, (o.from ?? 0) + o.count).map((r) => ({ ...r, __version: 1 as Value }));
    const sdc = this.seal(matricule, SdcKind.data, encodeBatch(batchFromObjects('births', rows)), rows.length);
    return { outcome: await this.pipeline().ingest(sdc, { via: o.via }), bytes: sdc.length };
  }

  /** A usage report as agent/usage-reporter.ts packs it. */
  async sendReport(matricule: string, o: { profile: string; usage: UsageLine[]; backlog?: Record<string, Record<string, number>>; via: string }): Promise<{ outcome: IngestOutcome; bytes: number }> {
    const body = {
      report: 'usage', version: 1, at: this.clock.toISOString(), profile: o.profile,
      usage: o.usage.map((u) => ({ bytesUp: 0, bytesDown: 0, messagesUp: 0, messagesDown: 0, sessions: 1, airtimeMs: 0, ...u })), backlog: o.backlog ?? {},
    };
    const sdc = this.seal(matricule, SdcKind.usageReport, encodeJsonBody(body), 0);
    return { outcome: await this.pipeline().ingest(sdc, { via: o.via }), bytes: sdc.length };
  }

  /** An SDC claiming to come from `sender` but signed with another key: quarantined under that sender's name. */
  async sendForged(sender: string, signer: Party, via = 'mqtt'): Promise<IngestOutcome> {
    const body = encodeBatch(batchFromObjects('births', sampleActs('births', 1).map((r) => ({ ...r, __version: 1 as Value }))));
    return this.pipeline().ingest(this.seal(sender, SdcKind.data, body, 1, signer), { via });
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
