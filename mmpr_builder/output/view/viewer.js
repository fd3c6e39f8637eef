// mmpr view: the pair browser. Data: #mmpr-meta, #mmpr-index and chunks (static: #chunk-K/#images-K
// blocks, parsed on first use; serve: GET chunk/K and search?q=). Only one page of pairs is in the DOM.
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const META = JSON.parse($('mmpr-meta').textContent);
  const INDEX = JSON.parse($('mmpr-index').textContent);
  const FILTERS = Object.keys(INDEX.values);
  const CACHE_MAX = 64;
  const cache = new Map();
  const state = { filters: {}, hits: null, matches: [], page: 0, query: '' };
  let renderToken = 0;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') node.className = v; else node.setAttribute(k, v);
    }
    for (const c of children) {
      if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }

  // a chunk's compact form ({columns, rows: [[...]], items: {item_id: shared columns}}) -> row objects
  function expand(raw) {
    return raw.rows.map((values) => {
      const row = {};
      raw.columns.forEach((c, j) => { row[c] = values[j]; });
      return Object.assign(row, raw.items[row.item_id]);
    });
  }

  async function loadChunk(k) {
    if (cache.has(k)) {
      const hit = cache.get(k);
      cache.delete(k);
      cache.set(k, hit);
      return hit;
    }
    let chunk;
    if (META.mode === 'static') {
      chunk = { rows: expand(JSON.parse($('chunk-' + k).textContent)), images: JSON.parse($('images-' + k).textContent) };
    } else {
      const r = await fetch('chunk/' + k);
      if (!r.ok) throw new Error('chunk ' + k + ': HTTP ' + r.status);
      const raw = await r.json();
      chunk = { rows: expand(raw), images: raw.images };
    }
    cache.set(k, chunk);
    if (cache.size > CACHE_MAX) cache.delete(cache.keys().next().value);
    return chunk;
  }

  function searchText(row) {
    return META.search_columns.map((c) => (row[c] === null || row[c] === undefined ? '' : String(row[c])))
      .join('\n').toLowerCase();
  }

  async function search(query) {
    if (!query) return null;
    if (META.mode !== 'static') {
      const r = await fetch('search?q=' + encodeURIComponent(query));
      if (!r.ok) throw new Error('search: HTTP ' + r.status);
      return new Set((await r.json()).matches);
    }
    const hits = new Set();
    for (let k = 0; k < META.n_chunks; k++) {
      const rows = cache.has(k) ? cache.get(k).rows : expand(JSON.parse($('chunk-' + k).textContent));
      for (const row of rows) if (searchText(row).includes(query)) hits.add(row.i);
    }
    return hits;
  }

  function applyFilters() {
    const active = FILTERS.filter((f) => state.filters[f] !== undefined && state.filters[f] !== '')
      .map((f) => [INDEX.codes[f], Number(state.filters[f])]);
    const out = [];
    for (let i = 0; i < META.total; i++) {
      let ok = true;
      for (const [codes, want] of active) if (codes[i] !== want) { ok = false; break; }
      if (ok && state.hits && !state.hits.has(i)) ok = false;
      if (ok) out.push(i);
    }
    state.matches = out;
  }

  // text with the last occurrence of `answer` marked
  function highlighted(text, answer) {
    const pre = el('pre');
    const at = answer ? text.lastIndexOf(answer) : -1;
    if (at < 0) { pre.append(text); return pre; }
    pre.append(text.slice(0, at), el('mark', {}, answer), text.slice(at + answer.length));
    return pre;
  }

  // a DropoutNTP rejected: the chosen's prefix (cut_char code points), then the continuation
  function continued(text, cutChar) {
    const chars = Array.from(text);
    return el('pre', {}, chars.slice(0, cutChar).join(''),
      el('span', { class: 'cont', title: 'continued without the image' }, chars.slice(cutChar).join('')));
  }

  function side(row, name) {
    const answer = row[name + '_answer'];
    const bits = [];
    if (row[name + '_verdict']) bits.push('verdict ' + row[name + '_verdict']);
    if (row[name + '_judged_by']) bits.push('judged by ' + row[name + '_judged_by']);
    bits.push(row[name + '_num_tokens'] + ' tokens', 'finish ' + row[name + '_finish_reason']);
    const meta = el('div', { class: 'meta' }, bits.join(' · '));
    if (answer !== null && answer !== undefined) meta.append(' · answer ', el('mark', {}, answer));
    const body = name === 'rejected' && row.method === 'dropout_ntp' && row.cut_char !== null
      ? continued(row.rejected, row.cut_char) : highlighted(row[name], answer);
    return el('div', { class: 'side ' + name }, el('h4', {}, name), meta, body);
  }

  function card(row, images) {
    const head = el('div', { class: 'phead' }, el('span', { class: 'tag' }, row.method),
      el('span', { class: 'tag' }, row.source || '?'), '#' + (row.i + 1) + ' · pair ' + row.id + ' · item ' + row.item_id);
    if (row.method === 'dropout_ntp' && row.cut_token !== null) head.append(' · cut at token ' + row.cut_token);
    const pics = el('div', { class: 'imgs' });
    for (const key of row.images) {
      pics.append(images[key] ? el('img', { src: images[key], alt: 'image of ' + row.item_id })
        : el('div', { class: 'noimg' }, 'image cannot be decoded'));
    }
    const gt = row.ground_truth === null ? el('div', { class: 'gt' }, el('b', {}, 'ground truth: '), 'none')
      : el('div', { class: 'gt' }, el('b', {}, 'ground truth: '), el('mark', {}, row.ground_truth));
    const q = el('div', { class: 'qtext' }, el('pre', {}, row.question || ''), gt);
    return el('div', { class: 'pair', 'data-i': row.i }, head, el('div', { class: 'pq' }, pics, q),
      el('div', { class: 'sides' }, side(row, 'chosen'), side(row, 'rejected')));
  }

  function pageCount() { return Math.max(1, Math.ceil(state.matches.length / META.page_rows)); }

  async function render() {
    const token = ++renderToken;
    state.page = Math.max(0, Math.min(state.page, pageCount() - 1));
    const shown = state.matches.slice(state.page * META.page_rows, (state.page + 1) * META.page_rows);
    const frag = document.createDocumentFragment();
    for (const i of shown) {
      const k = Math.floor(i / META.chunk_rows);
      const chunk = await loadChunk(k);
      if (token !== renderToken) return;  // a newer render started
      frag.append(card(chunk.rows[i - k * META.chunk_rows], chunk.images));
    }
    $('pairs').replaceChildren(frag);
    const count = $('count');
    count.textContent = state.matches.length + ' of ' + META.total + ' pairs';
    count.dataset.matches = String(state.matches.length);
    $('pageinfo').textContent = 'page ' + (state.page + 1) + ' of ' + pageCount();
    $('first').disabled = $('prev').disabled = state.page === 0;
    $('next').disabled = $('last').disabled = state.page >= pageCount() - 1;
  }

  function setStatus(text) { $('status').textContent = text; }

  async function refresh() {
    applyFilters();
    state.page = 0;
    await render();
  }

  async function runSearch() {
    const query = $('search').value.trim().toLowerCase();
    if (query === state.query) return;
    setStatus(query ? 'searching…' : '');
    state.hits = await search(query);
    state.query = query;
    setStatus('');
    await refresh();
  }

  function fillSelects() {
    for (const f of FILTERS) {
      const counts = new Array(INDEX.values[f].length).fill(0);
      for (const c of INDEX.codes[f]) counts[c]++;
      const select = $('f-' + f);
      select.append(el('option', { value: '' }, 'all (' + META.total + ')'));
      INDEX.values[f].forEach((v, k) => select.append(el('option', { value: String(k) }, v + ' (' + counts[k] + ')')));
      select.addEventListener('change', () => { state.filters[f] = select.value; refresh().catch(fail); });
    }
  }

  function fail(err) { setStatus('error: ' + err.message); throw err; }

  function go(page) { state.page = page; render().catch(fail); }

  fillSelects();
  $('search-go').addEventListener('click', () => runSearch().catch(fail));
  $('search').addEventListener('keydown', (e) => { if (e.key === 'Enter') runSearch().catch(fail); });
  $('reset').addEventListener('click', () => {
    for (const f of FILTERS) { $('f-' + f).value = ''; state.filters[f] = ''; }
    $('search').value = '';
    state.hits = null;
    state.query = '';
    refresh().catch(fail);
  });
  $('first').addEventListener('click', () => go(0));
  $('prev').addEventListener('click', () => go(state.page - 1));
  $('next').addEventListener('click', () => go(state.page + 1));
  $('last').addEventListener('click', () => go(pageCount() - 1));
  $('goto').addEventListener('change', () => go(Number($('goto').value) - 1));
  refresh().then(() => { document.body.dataset.ready = '1'; }).catch(fail);
})();
