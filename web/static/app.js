// The bulkassign imports page: it talks only to the service's /v1 API,
// with the token the user enters (kept in sessionStorage, sent as a bearer
// token). Every value from the API reaches the page through textContent or
// a text node, never as markup.
'use strict';

const TOKEN_KEY = 'bulkassign.token';
const POLL_MS = 1000;
// The row statuses, in the order summaries list them (contract.Statuses).
const STATUSES = ['created', 'existing', 'duplicate', 'failed', 'invalid', 'conflict', 'removed', 'absent'];

const $ = (id) => document.getElementById(id);

// el makes an element: props are set as properties (attributes for data-*
// and aria-*), children are nodes or strings (inserted as text).
function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k.startsWith('data-') || k.startsWith('aria-')) {
      e.setAttribute(k, v);
    } else {
      e[k] = v;
    }
  }
  for (const c of children) {
    if (c !== null && c !== undefined) {
      e.append(c instanceof Node ? c : String(c));
    }
  }
  return e;
}

// say puts a message in a status element; kind is '', 'ok' or 'error'.
function say(node, text, kind) {
  node.textContent = text;
  node.className = kind || '';
}

// ---- API ------------------------------------------------------------------

// APIError is a refused or failed API call: its HTTP status (0 when the
// service did not answer) and the API's message when it sent one.
class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

// api calls the API with the token. A 401 shows the token error and
// throws; any other answer is returned as it is.
async function api(path, { method = 'GET', body, type, accept = 'application/json' } = {}) {
  const headers = { Accept: accept };
  if (token() !== '') {
    headers.Authorization = 'Bearer ' + token();
  }
  if (type) {
    headers['Content-Type'] = type;
  }
  let resp;
  try {
    resp = await fetch(path, { method, headers, body, cache: 'no-store', credentials: 'omit' });
  } catch (err) {
    throw new APIError(0, 'The service does not answer: ' + err.message);
  }
  if (resp.status === 401) {
    const e = await errorOf(resp);
    authFailed(e.message);
    throw e;
  }
  authOK();
  return resp;
}

// errorOf reads the API's error answer {"error":{"code","message"}}.
async function errorOf(resp) {
  let message = resp.status + ' ' + resp.statusText;
  try {
    const body = await resp.json();
    if (body && body.error && body.error.message) {
      message = body.error.message;
    }
  } catch (_) {
    // Not JSON: keep the HTTP status as the message.
  }
  return new APIError(resp.status, message);
}

// json calls the API and returns its JSON answer, throwing the API's error
// unless the status is one of ok.
async function json(path, opts, ok = [200]) {
  const resp = await api(path, opts);
  if (!ok.includes(resp.status)) {
    throw await errorOf(resp);
  }
  return { status: resp.status, body: await resp.json() };
}

// ---- token ------------------------------------------------------------------

// authConfirmed is true once the status line says the current token works.
let authConfirmed = false;

function authFailed(detail) {
  authConfirmed = false;
  const what = token() === '' ? 'Token required or wrong: enter the API token.' : 'Token required or wrong: the service refused this token.';
  say($('auth-status'), detail ? what + ' (' + detail + ')' : what, 'error');
  stopPolling();
}

function authOK() {
  if (!authConfirmed) {
    authConfirmed = true;
    say($('auth-status'), token() === '' ? 'Connected without a token.' : 'Token accepted.', 'ok');
  }
}

function setupToken() {
  $('token').value = token();
  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
    say($('auth-status'), 'Checking the token…', '');
    authConfirmed = false;
    startPolling();
  });
  $('token-clear').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    $('token').value = '';
    say($('auth-status'), 'Token forgotten.', '');
    authConfirmed = false;
    startPolling();
  });
}

// ---- imports list -------------------------------------------------------------

let pollTimer = null;
let polling = false;
let selected = null; // the id of the import whose rows are shown
const importRows = new Map(); // import id -> its table row's cells
const imports = new Map(); // import id -> its latest view

function startPolling() {
  stopPolling();
  polling = true;
  poll();
}

function stopPolling() {
  polling = false;
  clearTimeout(pollTimer);
}

async function poll() {
  try {
    await refreshImports();
  } catch (err) {
    if (err.status !== 401) {
      say($('imports-status'), 'Could not list the imports: ' + err.message, 'error');
    }
  }
  if (polling) {
    pollTimer = setTimeout(poll, POLL_MS);
  }
}

async function refreshImports() {
  const { body } = await json('/v1/imports');
  const list = body.imports || [];
  say($('imports-status'), list.length === 0 ? 'No imports yet.' : list.length + (list.length === 1 ? ' import.' : ' imports.'), '');
  const tbody = $('imports-table').tBodies[0];
  const seen = new Set();
  for (const view of list) {
    seen.add(view.id);
    let cells = importRows.get(view.id);
    if (!cells) {
      cells = newImportRow(view.id);
      importRows.set(view.id, cells);
    }
    const before = imports.get(view.id);
    imports.set(view.id, view);
    fillImportRow(cells, view);
    tbody.append(cells.tr); // keeps the API's order; moves, never recreates
    if (view.id === selected && (!before || before.done !== view.done || before.finished !== view.finished)) {
      refreshRows();
    }
  }
  for (const [id, cells] of importRows) {
    if (!seen.has(id)) {
      cells.tr.remove();
      importRows.delete(id);
      imports.delete(id);
    }
  }
}

function newImportRow(id) {
  const c = {
    name: el('div'),
    id: el('div', { className: 'mono' }, id),
    created: el('td'),
    bar: el('progress', { max: 1, value: 0 }),
    progress: el('span', { className: 'progress-text' }),
    counts: el('td', { className: 'counts' }),
    rate: el('td', { className: 'num rate' }),
    eta: el('td', { className: 'num eta' }),
    state: el('td', { className: 'state' }),
    tenants: el('ul', { className: 'plain tenants' }),
    show: el('button', { type: 'button' }, 'Show rows'),
  };
  c.show.addEventListener('click', () => select(id));
  c.tr = el('tr', { 'data-import-id': id },
    el('th', { scope: 'row' }, c.name, c.id),
    c.created,
    el('td', {}, c.bar, ' ', c.progress),
    c.counts, c.rate, c.eta, c.state,
    el('td', {}, c.tenants),
    el('td', {}, c.show));
  return c;
}

function fillImportRow(c, v) {
  const name = v.name || v.source || v.id;
  c.name.textContent = name;
  c.created.textContent = when(v.created_at);
  c.bar.max = Math.max(v.rows || 0, 1);
  c.bar.value = Math.min(v.done || 0, c.bar.max);
  c.bar.setAttribute('aria-label', 'Progress of ' + name);
  c.show.setAttribute('aria-label', 'Show the rows of ' + name);
  c.progress.textContent = (v.done || 0) + ' / ' + (v.rows || 0);
  c.counts.textContent = countsText(v.counts);
  c.rate.textContent = (v.rate_rows_per_second || 0).toFixed(1) + ' rows/s';
  c.eta.textContent = v.finished ? '' : eta(v.eta_seconds);
  c.state.textContent = v.finished ? 'finished' : v.state || 'running';
  c.state.classList.toggle('error', (v.missing || 0) > 0);
  c.state.title = v.finished && v.finished_at ? 'finished ' + when(v.finished_at) : '';
  // A tenant's reason says its state in plain words ("throttled, retry
  // in 12s"); a running tenant has none.
  const tenants = (v.tenants || []).map((t) => el('li', { className: 'state-' + t.state, 'data-tenant-state': t.state },
    el('span', { className: 'mono' }, t.tenant), ': ', t.reason || t.state,
    ', ' + (t.rate_rows_per_second || 0).toFixed(2) + ' rows/s, ' + t.pending + ' pending'));
  c.tenants.replaceChildren(...tenants);
  c.tr.classList.toggle('selected', v.id === selected);
  if (v.id === selected) {
    $('rows-heading').textContent = 'Rows of ' + name;
  }
}

// countsText lists the non-zero counts in the contract's order, e.g.
// "created 3, failed 1"; statuses the page does not know come last.
function countsText(counts) {
  counts = counts || {};
  const known = STATUSES.filter((s) => counts[s] > 0);
  const other = Object.keys(counts).filter((s) => !STATUSES.includes(s) && counts[s] > 0).sort();
  return known.concat(other).map((s) => s + ' ' + counts[s]).join(', ');
}

function eta(seconds) {
  if (typeof seconds !== 'number' || seconds < 0) {
    return '—';
  }
  if (seconds < 90) {
    return Math.ceil(seconds) + ' s';
  }
  if (seconds < 5400) {
    return Math.ceil(seconds / 60) + ' min';
  }
  return (seconds / 3600).toFixed(1) + ' h';
}

function when(ts) {
  if (!ts) {
    return '';
  }
  const d = new Date(ts);
  return isNaN(d) ? String(ts) : d.toLocaleString();
}

// ---- one import's rows ----------------------------------------------------------

let rowsSeq = 0; // drops answers to requests a newer one replaced

function select(id) {
  selected = id;
  for (const [other, cells] of importRows) {
    cells.tr.classList.toggle('selected', other === id);
  }
  const v = imports.get(id);
  $('rows-heading').textContent = 'Rows of ' + (v ? v.name || v.id : id);
  $('rows').hidden = false;
  refreshRows();
}

function reportPath(id, statuses) {
  const q = statuses ? '?status=' + encodeURIComponent(statuses) : '';
  return '/v1/imports/' + encodeURIComponent(id) + '/report' + q;
}

async function refreshRows() {
  if (selected === null) {
    return;
  }
  const seq = ++rowsSeq;
  const filter = $('status-filter').value;
  let rows;
  try {
    ({ body: rows } = await json(reportPath(selected, filter)));
  } catch (err) {
    if (seq === rowsSeq) {
      say($('rows-status'), 'Could not read the rows: ' + err.message, 'error');
    }
    return;
  }
  if (seq !== rowsSeq) {
    return;
  }
  rows = rows || [];
  const v = imports.get(selected);
  let text = rows.length + (rows.length === 1 ? ' row' : ' rows') + (filter ? ' with status ' + filter.split(',').join(' or ') : '');
  if (v && !v.finished) {
    text += ' so far (the import is still running)';
  }
  say($('rows-status'), text + '.', '');
  $('rows-table').tBodies[0].replaceChildren(...rows.map((r) => el('tr', { 'data-row': r.row },
    el('td', { className: 'num' }, r.row),
    el('td', { className: 'mono' }, r.tenant_id),
    el('td', {}, r.kind),
    el('td', { className: 'mono' }, r.policy_name ? r.policy_name + ' (' + r.policy_id + ')' : r.policy_id),
    el('td', { className: 'mono' }, target(r)),
    el('td', { className: 'status status-' + r.status }, r.status),
    el('td', { className: 'num' }, r.attempts),
    el('td', {}, [r.error_code, r.error_message].filter(Boolean).join(': ')))));
}

function target(r) {
  const group = r.group_name ? r.group_name + ' (' + r.group_id + ')' : r.group_id;
  return group ? r.target + ' ' + group : r.target || '';
}

// download fetches the whole report as CSV (the token cannot ride on a
// plain link) and saves it under the name the service gives it.
async function download() {
  const id = selected;
  let resp;
  try {
    resp = await api(reportPath(id, ''), { accept: 'text/csv' });
    if (!resp.ok) {
      throw await errorOf(resp);
    }
  } catch (err) {
    say($('rows-status'), 'Could not download the report: ' + err.message, 'error');
    return;
  }
  const given = /filename="([^"]+)"/.exec(resp.headers.get('Content-Disposition') || '');
  const name = given ? given[1] : id + '.report.csv';
  const url = URL.createObjectURL(await resp.blob());
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  say($('rows-status'), 'Report saved as ' + name + '.', 'ok');
}

function setupRows() {
  const filter = $('status-filter');
  for (const s of STATUSES) {
    filter.append(el('option', { value: s }, s));
  }
  filter.addEventListener('change', refreshRows);
  $('rows-form').addEventListener('submit', (ev) => ev.preventDefault());
  $('download').addEventListener('click', download);
}

// ---- upload ---------------------------------------------------------------

let checked = null; // the request that the last check validated

// uploadQuery is the query string of the form's current choices.
function uploadQuery(plan) {
  const file = $('file').files[0];
  const q = new URLSearchParams();
  q.set('name', $('import-name').value.trim() || (file ? file.name : ''));
  if ($('default-tenant').value.trim() !== '') {
    q.set('tenant', $('default-tenant').value.trim());
  }
  if ($('skip-invalid').checked) {
    q.set('skip_invalid', 'true');
  }
  if (plan) {
    q.set('plan', 'true');
  }
  return q.toString();
}

function resetCheck() {
  checked = null;
  $('submit').disabled = true;
  $('plan').hidden = true;
  $('rejections').hidden = true;
}

async function check() {
  resetCheck();
  const file = $('file').files[0];
  if (!file) {
    say($('upload-status'), 'Choose a CSV file first.', 'error');
    return;
  }
  say($('upload-status'), 'Checking ' + file.name + '…', '');
  let resp;
  try {
    resp = await api('/v1/imports?' + uploadQuery(true), { method: 'POST', body: file, type: 'text/csv' });
  } catch (err) {
    say($('upload-status'), 'Could not check the file: ' + err.message, 'error');
    return;
  }
  if (!resp.ok) {
    say($('upload-status'), 'Could not check the file: ' + (await errorOf(resp)).message, 'error');
    return;
  }
  const counts = showPlan(await resp.json());
  checked = uploadQuery(false);
  $('submit').disabled = false;
  if (counts.invalid > 0 && !$('skip-invalid').checked) {
    say($('upload-status'), file.name + ' has ' + counts.invalid + ' invalid rows: the service refuses the file unless ' +
      '"Skip invalid rows" is ticked.', 'error');
  } else {
    say($('upload-status'), file.name + ' checked: review the plan, then submit.', 'ok');
  }
}

// showPlan shows the plan's entries and returns their decisions counted.
function showPlan(plan) {
  const entries = plan.entries || [];
  const counts = {};
  for (const e of entries) {
    counts[e.decision] = (counts[e.decision] || 0) + 1;
  }
  $('plan-summary').textContent = entries.length + (entries.length === 1 ? ' row: ' : ' rows: ') +
    Object.keys(counts).sort().map((d) => d + ' ' + counts[d]).join(', ');
  $('plan-table').tBodies[0].replaceChildren(...entries.map((e) => el('tr', { 'data-row': e.row, 'data-decision': e.decision },
    el('td', { className: 'num' }, e.row),
    el('td', { className: 'decision status-' + e.decision }, e.decision),
    el('td', { className: 'mono' }, e.tenant_id),
    el('td', {}, e.kind),
    el('td', { className: 'mono' }, e.policy_name ? e.policy_name + ' (' + (e.policy_id || '?') + ')' : e.policy_id),
    el('td', { className: 'mono' }, target(e)),
    el('td', {}, e.reason || ''))));
  $('plan').hidden = false;
  return counts;
}

function showRejections(rejected) {
  $('rejections-table').tBodies[0].replaceChildren(...rejected.map((r) => el('tr', {},
    el('td', { className: 'num' }, r.index),
    el('td', { className: 'mono' }, r.column || ''),
    el('td', {}, r.reason))));
  $('rejections').hidden = false;
}

async function submit() {
  const file = $('file').files[0];
  if (!file || checked !== uploadQuery(false)) {
    resetCheck();
    say($('upload-status'), 'Check the file again before submitting.', 'error');
    return;
  }
  $('submit').disabled = true;
  let result;
  try {
    result = await json('/v1/imports?' + checked, { method: 'POST', body: file, type: 'text/csv' }, [200, 201, 202, 422]);
  } catch (err) {
    $('submit').disabled = false;
    say($('upload-status'), 'Could not submit the file: ' + err.message, 'error');
    return;
  }
  const receipt = result.body;
  if (result.status === 422 || !receipt.import_id) {
    showRejections(receipt.rejected || []);
    say($('upload-status'), 'The service refused the file: ' + (receipt.error || 'it has invalid rows.'), 'error');
    return;
  }
  resetCheck();
  const rejected = (receipt.rejected || []).length;
  say($('upload-status'), 'Import ' + receipt.import_id + ' accepted: ' + receipt.accepted + ' rows, ' +
    receipt.duplicates + ' duplicates, ' + rejected + ' invalid rows skipped.', 'ok');
  selected = receipt.import_id;
  $('rows-heading').textContent = 'Rows of ' + receipt.import_id;
  $('rows').hidden = false;
  startPolling();
}

function setupUpload() {
  $('upload-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    check();
  });
  $('file').addEventListener('change', () => {
    const file = $('file').files[0];
    if (file && $('import-name').value.trim() === '') {
      $('import-name').placeholder = file.name;
    }
    check();
  });
  for (const id of ['import-name', 'default-tenant', 'skip-invalid']) {
    $(id).addEventListener('change', resetCheck);
  }
  $('submit').addEventListener('click', submit);
}

setupToken();
setupRows();
setupUpload();
startPolling();
