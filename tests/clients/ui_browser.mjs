// ui_browser.mjs: the web UI in a real browser (Debian's chromium driven by
// playwright-core) against a live llmtap holding the --demo data.
// Usage: node ui_browser.mjs URL SCREENSHOT_DIR
// Adds its own spans first (a phrase to search for, and a span whose prompt
// and response carry <script>, <img onerror> and javascript: payloads), then
// checks every page loads without a console error, search, a filter, the
// trace and session pages, the CSV against the table, and that nothing in
// the hostile span runs. Exit 0 = pass; every failure is printed.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

const [url, shots] = process.argv.slice(2);
if (!url || !shots) {
  console.error('usage: node ui_browser.mjs URL SCREENSHOT_DIR');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

const failures = [];
function check(ok, what) {
  if (!ok) failures.push(what);
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
}

const hex = (n) => randomBytes(n).toString('hex');
const nowNs = BigInt(Date.now()) * 1000000n;
const phrase = 'violet submarine timetable';
const found = { trace: hex(16), span: hex(8), session: `sess-ui-${hex(4)}` };
const evil = { trace: hex(16), span: hex(8) };
const XSS_SCRIPT = '<script>window.__xss = 1; alert(1)</script>';
const XSS_IMG = '<img src=x onerror="window.__xss = 2; alert(2)">';
const XSS_LINK = '<a href="javascript:window.__xss=3">click me</a>';

function span(ids, start, input, output, extra = {}) {
  return {
    trace_id: ids.trace, span_id: ids.span, name: 'chat gpt-4o-mini', kind: 'llm',
    start_ns: String(start), end_ns: String(start + 850000000n),
    provider: 'openai', model: 'gpt-4o-mini', input, output,
    usage: { input_tokens: 120, output_tokens: 40 }, status: 'ok', user: 'u-ui-test',
    project: 'default', ...extra,
  };
}

async function ingest() {
  const spans = [
    span(found, nowNs - 60000000000n,
      [{ role: 'system', content: 'You answer questions about ferries.' },
        { role: 'user', content: `Where can I find the ${phrase} for Tuesday?` }],
      { role: 'assistant', content: 'The timetable is posted at pier 4.' },
      { session: found.session }),
    span(evil, nowNs - 30000000000n,
      [{ role: 'user', content: `${XSS_SCRIPT} ${XSS_IMG} ${XSS_LINK}` }],
      { role: 'assistant', content: `${XSS_IMG} and ${XSS_LINK} and ${XSS_SCRIPT}` },
      { name: XSS_SCRIPT, attributes: { note: XSS_IMG }, session: found.session }),
  ];
  const res = await fetch(`${url}/api/v1/spans`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ spans }),
  });
  check(res.status === 200, `ingest of the test spans answers 200 (got ${res.status})`);
}

async function open(page, path, name, errors) {
  errors.length = 0;
  const res = await page.goto(url + path, { waitUntil: 'load' });
  check(res && res.status() === 200, `${path} answers 200 (got ${res && res.status()})`);
  const csp = res && res.headers()['content-security-policy'];
  check(csp === "default-src 'self'", `${path} carries the CSP (got ${csp})`);
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  check(errors.length === 0, `${path} logs no console error${errors.length ? ': ' + errors.join(' | ') : ''}`);
}

const num = (s) => Number(String(s).replace(/[$,%\s]/g, ''));

async function main() {
  await ingest();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  let dialogs = 0;
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', async (d) => { dialogs++; await d.dismiss(); });

  // every page
  await open(page, '/', 'overview', errors);
  check(await page.locator('svg.chart rect[class^="series-"]').count() > 0,
    'the overview draws its spend chart from the demo data');
  await open(page, '/traces', 'traces', errors);
  const all = await page.locator('table.calls tbody tr').count();
  check(all === 50, `the first page of /traces holds 50 calls (got ${all})`);
  check(await page.locator('a[rel=next]').count() === 1, '/traces links to a next page');
  await page.click('a[rel=next]');
  check(await page.locator('table.calls tbody tr').count() > 0, 'the next page has rows');

  // search by a phrase from the prompt
  await page.goto(`${url}/traces`);
  await page.fill('input[name=q]', `"${phrase}"`);
  await Promise.all([page.waitForNavigation(), page.click('.search-row button')]);
  await page.screenshot({ path: `${shots}/search.png`, fullPage: true });
  const hits = await page.locator('table.calls tbody tr').count();
  const link = await page.locator(`a[href^="/traces/${found.trace}"]`).count();
  check(hits === 1 && link > 0, `a phrase search finds exactly the trace (rows ${hits})`);
  check(page.url().includes('q='), 'the search is in the URL');

  // a filter narrows the list
  await page.goto(`${url}/traces`);
  const models = await page.locator('select[name=model] option').allTextContents();
  const model = models.find((m) => m !== 'any');
  await page.selectOption('select[name=model]', model);
  await Promise.all([page.waitForNavigation(), page.click('.form-actions button')]);
  const cells = await page.locator('table.calls tbody tr td:nth-child(3)').allTextContents();
  check(cells.length > 0 && cells.every((c) => c.trim().startsWith(model)),
    `filtering by model ${model} shows only its calls (${cells.length} rows)`);
  check(page.url().includes(`model=${encodeURIComponent(model)}`), 'the filter is in the URL');

  // a bad filter is a message, not a 500
  const bad = await page.goto(`${url}/traces?from=yesterday-ish&sort=sideways`);
  check(bad.status() === 400 && (await page.locator('.flash').count()) === 1,
    `a bad filter shows the page with a message (status ${bad.status()})`);

  // the trace page shows the conversation
  await open(page, `/traces/${found.trace}`, 'trace', errors);
  const chat = await page.locator('.chat').innerText();
  check(chat.includes(phrase) && chat.includes('The timetable is posted at pier 4.'),
    'the trace page shows the prompt and the answer');
  check(await page.locator('details.role-system').count() === 1, 'the system prompt is collapsible');
  check(await page.locator('.waterfall .wf-row').count() === 1, 'the waterfall has the span');

  // a demo trace with children shows nesting
  await page.goto(`${url}/traces?sort=latency`);
  const href = await page.locator('table.calls tbody tr td:first-child a').first().getAttribute('href');
  await open(page, href.split('#')[0], 'trace-demo', errors);
  check(await page.locator('.waterfall .wf-row').count() >= 1, 'a demo trace has a waterfall');

  // the session page
  await open(page, `/sessions/${found.session}`, 'session', errors);
  check((await page.locator('.turn').count()) === 2, 'the session shows both calls');
  check((await page.locator('.facts').innerText()).includes('Total cost'), 'the session has a total cost');

  // costs: the CSV matches the table
  await open(page, '/costs?by=model&from=30d', 'costs', errors);
  const rows = await page.locator('#breakdown tbody tr').evaluateAll((trs) =>
    trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent.trim())));
  const csvHref = await page.locator('a[download]').getAttribute('href');
  const csv = await (await page.request.get(url + csvHref)).text();
  const lines = csv.trim().split(/\r?\n/).slice(1).map((l) => l.split(','));
  let same = rows.length === lines.length && rows.length > 0;
  for (let i = 0; same && i < rows.length; i++) {
    const [key, calls, tin, tout, cost] = rows[i];
    const l = lines[i];
    same = key === l[0] && num(calls) === Number(l[1]) && num(tin) === Number(l[2]) &&
      num(tout) === Number(l[3]) && Math.abs(num(cost) - Number(l[4])) <= 0.006 + 0.01 * Number(l[4]);
    if (!same) console.log('  table', rows[i], 'csv', l);
  }
  check(same, `the CSV holds the table's ${rows.length} rows with the same figures`);
  for (const by of ['provider', 'project', 'user', 'tenant', 'version_set', 'day'])
    await open(page, `/costs?by=${by}`, `costs-${by}`, errors);

  // versions
  await open(page, '/versions', 'versions', errors);
  const vs = await page.locator('select[name=a] option').evaluateAll((o) => o.map((x) => x.value).filter(Boolean));
  check(vs.length >= 2, `the versions page lists version_sets (${vs.length})`);
  await open(page, `/versions?a=${encodeURIComponent(vs[0])}&b=${encodeURIComponent(vs[1])}`, 'versions-compare', errors);
  check(await page.locator('table.compare').count() === 1, 'two version_sets compare side by side');
  await open(page, '/versions?compare=1', 'versions-significance', errors);
  check(await page.locator('table.vcompare td.verdict').count() >= 6,
    'the newest version_set is compared with the one before it, a verdict per metric');
  await open(page, '/versions/regressions', 'versions-regressions', errors);

  // evaluation runs: the list, a run's cases, the losses filter; the candidate's markup is text
  if (process.env.EVAL_RUN) {
    const run = process.env.EVAL_RUN;
    await open(page, '/evals', 'evals', errors);
    check(await page.locator(`a[href="/evals/${run}"]`).count() > 0, 'the run is listed on /evals');
    check((await page.locator('body').innerText()).toLowerCase().includes('regression'),
      'the list shows the regression verdict');
    await open(page, `/evals/${run}`, 'eval-run', errors);
    const body = await page.locator('body').innerText();
    check(body.includes('Order A-1 ships today.'), 'the baseline answer is shown');
    check(body.includes('<script>window.__xss = 9</script>'), "the candidate's <script> answer is text");
    check(body.includes('The answer mentions ships.'), "the judge's reasoning is shown");
    await open(page, `/evals/${run}?losses=1`, 'eval-losses', errors);
    check(await page.evaluate(() => window.__xss === undefined), 'no answer ran as script');
  }

  // the hostile span: shown as text, nothing runs
  await open(page, `/traces/${evil.trace}`, 'xss', errors);
  const text = await page.locator('body').innerText();
  check(text.includes('<script>window.__xss = 1; alert(1)</script>'), 'the <script> payload is shown as text');
  check(text.includes('onerror='), 'the <img onerror> payload is shown as text');
  check(await page.locator('img').count() === 0, 'no <img> element was made from traffic');
  check(await page.locator('a[href^="javascript:"]').count() === 0, 'no javascript: link was made');
  check(await page.evaluate(() => window.__xss === undefined), 'no payload ran');
  await open(page, `/traces?q=${encodeURIComponent('submarine')}`, 'xss-list', errors);
  await open(page, `/sessions/${found.session}`, 'xss-session', errors);
  check(await page.evaluate(() => window.__xss === undefined), 'no payload ran in the list or session');
  check(dialogs === 0, `no dialog opened (${dialogs})`);

  // the dark scheme (prefers-color-scheme) and a phone-sized screen
  await page.emulateMedia({ colorScheme: 'dark' });
  await open(page, '/', 'overview-dark', errors);
  await open(page, `/traces/${found.trace}`, 'trace-dark', errors);
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(bg !== 'rgb(246, 247, 249)' && bg !== 'rgb(255, 255, 255)', `the dark scheme darkens the page (${bg})`);
  await page.setViewportSize({ width: 390, height: 800 });
  await open(page, '/traces', 'traces-phone', errors);
  await page.emulateMedia({ colorScheme: 'light' });
  await open(page, `/traces/${found.trace}`, 'trace-phone', errors);

  await browser.close();
  if (failures.length) {
    console.error(`ui_browser: ${failures.length} failed:\n  ${failures.join('\n  ')}`);
    process.exit(1);
  }
  console.log('ui_browser: ok');
}

main().catch((e) => { console.error(e); process.exit(1); });
