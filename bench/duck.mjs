// duck.mjs: baseline (C) of the store benchmark (bench/store.sh, issue 3
// item 8): DuckDB holding the same spans as llmtap's store, typed.
//   node bench/duck.mjs DIR
// reads DIR/export.ndjson (written by bench_store prepare, every column of
// llmtap's spans table), DIR/columns.json (column -> type) and DIR/params.txt
// (the query parameters), loads the spans into DIR/duck.db, checkpoints, and
// times the five queries warm, in process, as bench_store does for ours and
// (B): 3 warm-up runs (1 when a run takes over a second), then up to RUNS
// (20) timed runs within CAP (60) seconds, at least 3; every row is read into
// JavaScript values. Prints key=value lines; exit 1 when a step fails.
// @duckdb/node-api is a bench-only dependency installed by bench/store.sh
// into $BENCH_NODE_DIR (build/bench-node).
import { createRequire } from 'node:module';
import { readFileSync, statSync, existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = process.argv[2];
if (!dir) {
    console.error('usage: node bench/duck.mjs DIR');
    process.exit(2);
}
const nodeDir = resolve(process.env.BENCH_NODE_DIR || 'build/bench-node');
const runs = Number(process.env.RUNS || 20);
const capS = Number(process.env.CAP || 60);
const require = createRequire(join(nodeDir, 'package.json'));
const { DuckDBInstance } = await import(pathToFileURL(require.resolve('@duckdb/node-api')).href);

function readParams(path) {
    const p = {};
    for (const line of readFileSync(path, 'utf8').split('\n')) {
        const eq = line.indexOf('=');
        if (eq > 0) p[line.slice(0, eq)] = line.slice(eq + 1);
    }
    return p;
}

function sqlString(s) {
    return "'" + s.replaceAll("'", "''") + "'";
}

// FNV-1a over the UTF-8 bytes, as bench_store computes it.
function fnv32(s) {
    let h = 2166136261;
    for (const b of Buffer.from(s, 'utf8')) h = Math.imul(h ^ b, 16777619) >>> 0;
    return h;
}

async function load(con, dbPath) {
    const cols = JSON.parse(readFileSync(join(dir, 'columns.json'), 'utf8'));
    const spec = Object.entries(cols).map(([name, type]) => {
        if (!/^[a-z_0-9]+$/.test(name) || !/^[A-Z]+$/.test(type)) throw new Error(`bad column ${name}`);
        return `${sqlString(name)}: ${sqlString(type)}`;
    });
    const t0 = performance.now();
    await con.run(
        `CREATE TABLE spans AS SELECT * FROM read_json(${sqlString(join(dir, 'export.ndjson'))},` +
            ` format = 'newline_delimited', maximum_object_size = 67108864,` +
            ` columns = {${spec.join(', ')}})`,
    );
    await con.run('CHECKPOINT');
    const loadS = (performance.now() - t0) / 1000;
    const n = (await con.runAndReadAll('SELECT count(*) FROM spans')).getRows()[0][0];
    const wal = dbPath + '.wal';
    const bytes = statSync(dbPath).size + (existsSync(wal) ? statSync(wal).size : 0);
    const version = (await con.runAndReadAll('SELECT version()')).getRows()[0][0];
    console.log(`duck_version=${version}\nduck_spans=${n}\nduck_load_s=${loadS.toFixed(1)}`);
    console.log(`duck_bytes=${bytes}`);
}

const queries = (p) => [
    {
        id: 'q1',
        sql:
            'SELECT start_ns // 86400000000000 AS day, model, sum(cost_usd) AS cost FROM spans' +
            ' WHERE start_ns >= $1 * 3600000000000 GROUP BY 1, 2 ORDER BY 1, 2',
        bind: (st) => st.bindBigInt(1, BigInt(p.param_hour_from)),
        fp: 'cost',
    },
    {
        id: 'q2',
        sql:
            'SELECT version_set, quantile_disc(latency_ms, 0.95) AS p95 FROM spans' +
            ' GROUP BY version_set ORDER BY 1',
        bind: () => {},
        fp: 'p95',
    },
    {
        id: 'q3',
        sql:
            'SELECT trace_id, span_id, start_ns FROM spans WHERE input ILIKE $1 OR output ILIKE $1' +
            ' ORDER BY start_ns DESC LIMIT 50',
        bind: (st) => st.bindVarchar(1, '%' + p.param_phrase.replaceAll('"', '') + '%'),
        fp: 'span_id',
    },
    {
        id: 'q4',
        sql: 'SELECT * FROM spans WHERE trace_id = $1',
        bind: (st) => st.bindVarchar(1, p.param_trace),
        fp: 'span_id',
    },
    {
        id: 'q5',
        sql:
            'SELECT trace_id, span_id, name, model, start_ns, latency_ms, cost_usd, status' +
            ' FROM spans WHERE project = $1 AND model = $3 AND parent_span_id IS NULL' +
            ' AND start_ns >= $2 ORDER BY start_ns DESC LIMIT 50',
        bind: (st) => {
            st.bindVarchar(1, p.param_project);
            st.bindBigInt(2, BigInt(p.param_since_ns));
            st.bindVarchar(3, p.param_model);
        },
        fp: 'span_id',
    },
];

function fingerprint(reader, col) {
    const names = reader.columnNames();
    const i = names.indexOf(col);
    const rows = reader.getRows();
    let sum = 0;
    for (const row of rows) {
        const v = row[i];
        if (v === null || v === undefined) continue;
        sum = col === 'span_id' ? (sum + fnv32(String(v))) >>> 0 : sum + Number(v);
    }
    return { rows: rows.length, fp: sum };
}

function nearestRank(sorted, p) {
    const i = Math.ceil((p / 100) * sorted.length) - 1;
    return sorted[Math.max(i, 0)];
}

async function timeQuery(con, q) {
    const st = await con.prepare(q.sql);
    q.bind(st);
    for (let w = 0; w < 3; w++) {
        const t0 = performance.now();
        (await st.runAndReadAll()).getRows();
        if (performance.now() - t0 > 1000) break;
    }
    const ms = [];
    let spent = 0, last;
    while (ms.length < runs && (ms.length < 3 || spent < capS)) {
        const t0 = performance.now();
        last = await st.runAndReadAll();
        last.getRows();
        const d = performance.now() - t0;
        ms.push(d);
        spent += d / 1000;
    }
    ms.sort((a, b) => a - b);
    const n = ms.length;
    const med = n % 2 ? ms[(n - 1) / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
    const { rows, fp } = fingerprint(last, q.fp);
    const k = `${q.id}_duck`;
    console.log(
        `${k}_med=${med.toFixed(3)}\n${k}_p95=${nearestRank(ms, 95).toFixed(3)}\n` +
            `${k}_runs=${n}\n${k}_rows=${rows}\n${k}_fp=${Number(fp.toPrecision(12))}`,
    );
    console.error(`duck: ${q.id} done`);
}

async function main() {
    const params = readParams(join(dir, 'params.txt'));
    const dbPath = join(dir, 'duck.db');
    rmSync(dbPath, { force: true });
    rmSync(dbPath + '.wal', { force: true });
    const inst = await DuckDBInstance.create(dbPath);
    const con = await inst.connect();
    await load(con, dbPath);
    for (const q of queries(params)) await timeQuery(con, q);
    con.closeSync();
}

main().catch((e) => {
    console.error(`duck: ${e.message}`);
    process.exit(1);
});
