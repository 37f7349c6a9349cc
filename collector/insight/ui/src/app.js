// SPDX-License-Identifier: BSD-2-Clause
// The insight page (docs/ui.md): the graph, the side panel, the tables, the refresh loop.

import './app.css';
import { api } from './api.js';
import { failuresChart, pathCharts } from './charts.js';
import { $, fill, h } from './dom.js';
import {
	fmtBytes,
	fmtClock,
	fmtCount,
	fmtFailures,
	fmtPct,
	fmtResolution,
	fmtRtt,
	fmtTime,
	reachSentence,
} from './format.js';
import { EDGE_COLORS, Graph, edgeHealth, edgeId } from './graph.js';

/* the API's largest limit: the page shows at most this many apps and edges */
const LIMIT = 1000;
const TOP = 8;

/* ?refresh=N: every N seconds (default 10), 0: never */
function refreshSeconds() {
	const v = new URLSearchParams(location.search).get('refresh');
	if (v == null || v === '') return 10;
	const n = Number(v);
	return Number.isFinite(n) && n >= 0 ? n : 10;
}

const state = {
	graph: null,
	apps: new Map(),
	selected: null, // {kind: 'node', id} | {kind: 'edge', id, edge}
	charts: [],
	reachChart: null,
	loads: 0,
	refresh: refreshSeconds(),
	timer: 0,
};

let markReady;
/* what tests read: the graph, when it is first drawn, and what that took */
const podflow = {
	cy: null,
	ready: new Promise((resolve) => {
		markReady = resolve;
	}),
	isReady: false,
	error: null,
	timings: {},
	last: {},
	colors: EDGE_COLORS,
	edgeId,
	refreshes: 0,
};
window.podflow = podflow;

function showError(msg) {
	const el = $('error');
	el.textContent = msg;
	el.hidden = !msg;
}

/* ---- the header: /api/v1/status ---- */

function renderStatus(st, apps, edges) {
	const w = st.window || {};
	const parts = [
		h('span', {}, `window ${fmtClock(w.start_ms)}–${fmtClock(w.end_ms)}`),
		h('span', {}, `${fmtResolution(w.resolution_ms)} buckets`),
		h('span', {}, `${fmtCount(apps.total ?? apps.apps.length)} apps`),
		h('span', {}, `${fmtCount(edges.total ?? edges.edges.length)} edges`),
		h('span', {}, `source ${st.source}`),
	];
	let rebuild = `rebuild ${st.rebuild}`;
	if (st.rebuild === 'done' || st.rebuild === 'running')
		rebuild += ` (${fmtCount(st.rebuilt)} records, ${fmtCount(st.rebuild_files)} files)`;
	parts.push(h('span', { class: st.rebuild === 'failed' ? 'warn' : null }, rebuild));
	if (st.overflow > 0)
		parts.push(h('span', { class: 'warn' }, `${fmtCount(st.overflow)} records past max_edges (${fmtCount(st.max_edges)})`));
	parts.push(
		h(
			'span',
			{ class: 'muted', dataset: { testid: 'updated' } },
			`updated ${fmtTime(Date.now())}${state.refresh > 0 ? ` · every ${state.refresh} s` : ' · auto-refresh off'}`,
		),
	);
	fill($('status'), parts);
}

/* ---- the tables: /api/v1/top ---- */

function edgeCell(e) {
	return h(
		'td',
		{ class: 'edge-cell', title: `${e.from} → ${e.to}:${e.port}` },
		h('i', { class: `dot ${edgeHealth(e)}` }),
		h('span', { class: 'from' }, e.from),
		h('span', { class: 'arrow' }, ' → '),
		h('span', { class: 'to' }, e.to),
		h('span', { class: 'port' }, `:${e.port}`),
	);
}

function renderTop(table, edges, cols) {
	const head = h('tr', {}, h('th', {}, 'Edge'), cols.map((c) => h('th', { class: 'num' }, c.title)));
	const rows = edges.map((e) =>
		h(
			'tr',
			{ class: 'clickable', dataset: { edge: edgeId(e.from, e.to, e.port) }, onclick: () => pickEdge(e) },
			edgeCell(e),
			cols.map((c) => h('td', { class: 'num' }, c.value(e))),
		),
	);
	if (!rows.length) rows.push(h('tr', {}, h('td', { class: 'muted empty', colspan: cols.length + 1 }, 'Nothing to show.')));
	fill(table, h('thead', {}, head), h('tbody', {}, rows));
}

/* the class most of its failed connects fall in, by the API's short name ("refused") */
function mainError(e) {
	const f = Object.entries(e.failures || {}).sort((a, b) => b[1] - a[1])[0];
	return f && f[1] > 0 ? f[0] : '—';
}

function renderTables(bytes, failures, retransmits) {
	renderTop($('top-bytes'), bytes.edges, [
		{ title: 'Bytes', value: (e) => fmtBytes(e.bytes_sent + e.bytes_received) },
		{ title: 'Conns', value: (e) => fmtCount(e.flows) },
	]);
	renderTop($('top-failures'), failures.edges, [
		{ title: 'Failed', value: (e) => `${fmtCount(e.failed)} (${fmtPct(e.failure_ratio)})` },
		{ title: 'Mostly', value: mainError },
	]);
	renderTop($('top-retransmits'), retransmits.edges, [
		{ title: 'Retrans.', value: (e) => fmtCount(e.retransmits) },
		{ title: 'Ratio', value: (e) => fmtPct(e.retransmit_ratio) },
	]);
}

/* ---- the side panel ---- */

function destroyCharts() {
	for (const c of state.charts) c.destroy();
	state.charts = [];
}

function figures(rows) {
	return h(
		'dl',
		{ class: 'figures' },
		rows.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
	);
}

function badge(text, cls) {
	return h('span', { class: `badge ${cls || ''}` }, text);
}

function setDetails(title, ...body) {
	destroyCharts();
	fill($('details-title'), title);
	fill($('details-body'), body);
}

function pickEdge(e) {
	state.graph.select(edgeId(e.from, e.to, e.port));
	showEdge(e);
}

async function showEdge(e, quiet = false) {
	const id = edgeId(e.from, e.to, e.port);
	state.selected = { kind: 'edge', id, edge: e };
	if (!quiet) setDetails(`${e.from} → ${e.to}`, h('p', { class: 'muted' }, 'Loading…'));
	let p;
	try {
		p = await api('path', { from: e.from, to: e.to });
	} catch (err) {
		if (state.selected && state.selected.id === id) setDetails(`${e.from} → ${e.to}`, h('p', { class: 'error' }, err.message));
		return;
	}
	if (!state.selected || state.selected.id !== id) return;
	const health = edgeHealth(e);
	const sentence = reachSentence(p);
	const ports = (p.ports || []).join(', ');
	const charts = h('div', { class: 'charts', dataset: { testid: 'edge-charts' } });
	setDetails(
		h('span', {}, e.from, h('span', { class: 'arrow' }, ' → '), e.to, h('span', { class: 'port' }, `:${e.port}`)),
		h(
			'div',
			{ id: 'edge-panel', dataset: { testid: 'edge-panel', edge: id } },
			h(
				'div',
				{ class: 'badges' },
				badge(health === 'ok' ? 'healthy' : health, health),
				e.new && badge('new', 'new'),
				e.cross_namespace && badge('cross-namespace', ''),
				badge(`reported by the ${e.reported_by}`, 'plain'),
			),
			h('p', { class: `answer ${sentence.verdict}`, dataset: { testid: 'edge-answer' } }, sentence.text),
			figures([
				['Connections', fmtCount(e.flows)],
				['Failed', e.failed ? `${fmtCount(e.failed)} (${fmtPct(e.failure_ratio)}): ${fmtFailures(e.failures)}` : '0'],
				['Sent / received', `${fmtBytes(e.bytes_sent)} / ${fmtBytes(e.bytes_received)}`],
				['Retransmits', `${fmtCount(e.retransmits)} of ${fmtCount(e.segs_sent)} segments (${fmtPct(e.retransmit_ratio)})`],
				['Resets', fmtCount(e.resets)],
				['RTT p50 / p90 / p99', `${fmtRtt(e.rtt_us.p50)} / ${fmtRtt(e.rtt_us.p90)} / ${fmtRtt(e.rtt_us.p99)}`],
				['First / last seen', `${fmtTime(e.first_seen_ms)} / ${fmtTime(e.last_seen_ms)}`],
				(e.to_account || e.to_region || e.to_zone) && [
					'Remote owner',
					[e.to_account, e.to_region, e.to_zone].filter(Boolean).join(' · '),
				],
			]),
			h('h3', {}, `Over the window${ports ? ` (port${p.ports.length > 1 ? 's' : ''} ${ports})` : ''}`),
			charts,
		),
	);
	state.charts = pathCharts(charts, p.series || []);
}

function depRows(edges, other) {
	if (!edges.length) return h('p', { class: 'muted' }, 'None in the window.');
	return h(
		'table',
		{ class: 'deps' },
		h(
			'thead',
			{},
			h('tr', {}, h('th', {}, other === 'to' ? 'Calls' : 'Called by'), h('th', { class: 'num' }, 'Conns'), h('th', { class: 'num' }, 'Failed'), h('th', { class: 'num' }, 'Bytes')),
		),
		h(
			'tbody',
			{},
			edges.map((e) =>
				h(
					'tr',
					{ class: 'clickable', onclick: () => pickEdge(e) },
					h('td', { class: 'edge-cell' }, h('i', { class: `dot ${edgeHealth(e)}` }), e[other], h('span', { class: 'port' }, `:${e.port}`)),
					h('td', { class: 'num' }, fmtCount(e.flows)),
					h('td', { class: 'num' }, fmtCount(e.failed)),
					h('td', { class: 'num' }, fmtBytes(e.bytes_sent + e.bytes_received)),
				),
			),
		),
	);
}

async function showNode(id, quiet = false) {
	state.selected = { kind: 'node', id };
	if (!quiet) setDetails(id, h('p', { class: 'muted' }, 'Loading…'));
	let d;
	try {
		d = await api('dependencies', { app: id });
	} catch (err) {
		if (state.selected && state.selected.id === id) setDetails(id, h('p', { class: 'error' }, err.message));
		return;
	}
	if (!state.selected || state.selected.id !== id) return;
	const a = state.apps.get(id);
	setDetails(
		id,
		h(
			'div',
			{ id: 'node-panel', dataset: { testid: 'node-panel', node: id } },
			a &&
				figures([
					['Kind', a.kind === 'address' ? 'unattributed address' : 'app'],
					['Calls out', `${fmtCount(a.calls_out)} to ${fmtCount(a.callees)} ${a.callees === 1 ? 'app' : 'apps'}, ${fmtCount(a.failed_out)} failed, ${fmtBytes(a.bytes_out)}`],
					['Called', `${fmtCount(a.calls_in)} by ${fmtCount(a.callers)} ${a.callers === 1 ? 'app' : 'apps'}, ${fmtCount(a.failed_in)} failed, ${fmtBytes(a.bytes_in)}`],
				]),
			h('h3', {}, 'Downstream'),
			depRows(d.downstream || [], 'to'),
			h('h3', {}, 'Upstream'),
			depRows(d.upstream || [], 'from'),
		),
	);
}

function clearDetails() {
	state.selected = null;
	setDetails('Details', h('p', { class: 'muted' }, 'Click an app or an edge in the graph, or a row of the tables below.'));
}

/* ---- can A reach B ---- */

async function reach(from, to) {
	const answer = $('reach-answer');
	answer.hidden = false;
	answer.className = 'answer pending';
	answer.textContent = `Checking ${from} → ${to}…`;
	delete answer.dataset.status;
	if (state.reachChart) state.reachChart.destroy();
	state.reachChart = null;
	fill($('reach-chart'));
	let p;
	try {
		p = await api('path', { from, to });
	} catch (err) {
		answer.className = 'answer error';
		answer.textContent = err.message;
		answer.dataset.status = 'error';
		return;
	}
	const s = reachSentence(p);
	answer.className = `answer ${s.verdict}`;
	answer.textContent = s.text;
	answer.dataset.status = p.status;
	answer.dataset.verdict = s.verdict;
	if (p.seen && p.series && p.series.length) state.reachChart = failuresChart($('reach-chart'), p.series);
}

/* ---- loading ---- */

function renderNotice(apps, edges, overflow) {
	const notes = [];
	if (edges.truncated)
		notes.push(`Showing the ${fmtCount(edges.edges.length)} heaviest of ${fmtCount(edges.total)} edges (the API's limit).`);
	if (apps.truncated) notes.push(`${fmtCount(apps.total)} apps in the window; the first ${fmtCount(apps.apps.length)} are listed.`);
	if (overflow) notes.push('Records past insight.max_edges are folded into an overflow edge, not drawn.');
	if (!edges.edges.length) notes.push('No flows in the window yet.');
	const el = $('graph-notice');
	el.textContent = notes.join(' ');
	el.hidden = !notes.length;
}

async function load() {
	const first = !podflow.isReady;
	try {
		const [st, apps, edges, byBytes, byFailures, byRetransmits] = await Promise.all([
			api('status'),
			api('apps', { limit: LIMIT }),
			api('edges', { limit: LIMIT }),
			api('top', { by: 'bytes', limit: TOP }),
			api('top', { by: 'failures', limit: TOP }),
			api('top', { by: 'retransmits', limit: TOP }),
		]);
		showError('');
		state.apps = new Map(apps.apps.map((a) => [a.id, a]));
		renderStatus(st, apps, edges);
		const t = await state.graph.update(apps.apps, edges.edges);
		renderNotice(apps, edges, t.overflow);
		fill(
			$('app-ids'),
			apps.apps.map((a) => h('option', { value: a.id })),
		);
		renderTables(byBytes, byFailures, byRetransmits);
		const q = $('search').value;
		if (q) runSearch(q);
		podflow.last = t;
		podflow.refreshes++;
		if (first) {
			podflow.timings = {
				layout_ms: t.layout_ms,
				render_ms: t.render_ms,
				/* from the navigation's start: fetching the page, the API answers, drawing */
				load_ms: Math.round(performance.now()),
				nodes: t.nodes,
				edges: t.edges,
			};
			podflow.isReady = true;
			markReady(podflow.timings);
		} else if (state.selected) {
			/* the selection's figures follow the window, without flashing "Loading" */
			const sel = state.selected;
			if (sel.kind === 'edge') {
				const e = edges.edges.find((x) => edgeId(x.from, x.to, x.port) === sel.id);
				if (e) showEdge(e, true);
			} else if (state.apps.has(sel.id)) {
				showNode(sel.id, true);
			}
		}
	} catch (err) {
		showError(`Cannot load the insight API: ${err.message}`);
		if (first) podflow.error = err.message;
	}
	if (state.refresh > 0) state.timer = setTimeout(load, state.refresh * 1000);
}

function runSearch(q) {
	const m = state.graph.search(q);
	$('search-count').textContent = q.trim() ? `${m.length} match${m.length === 1 ? '' : 'es'}` : '';
	return m;
}

function wire() {
	const search = $('search');
	let debounce = 0;
	search.addEventListener('input', () => {
		clearTimeout(debounce);
		debounce = setTimeout(() => runSearch(search.value), 120);
	});
	search.addEventListener('keydown', (ev) => {
		if (ev.key === 'Escape') {
			search.value = '';
			runSearch('');
		} else if (ev.key === 'Enter') {
			const m = runSearch(search.value);
			if (m.length === 1) {
				state.graph.select(m.id());
				showNode(m.id());
			} else if (m.length) {
				state.graph.cy.fit(m, 60);
			}
		}
	});
	$('reach-form').addEventListener('submit', (ev) => {
		ev.preventDefault();
		reach($('reach-from').value.trim(), $('reach-to').value.trim());
	});
	$('fit').addEventListener('click', () => state.graph.fit());
	$('relayout').addEventListener('click', () => {
		podflow.last.layout_ms = Math.round(state.graph.layout(true));
	});
}

function main() {
	state.graph = new Graph($('graph'), {
		node: (id) => showNode(id),
		edge: (e) => showEdge(e),
		clear: clearDetails,
	});
	podflow.cy = state.graph.cy;
	wire();
	/* ?from=&to=: a link that asks the question */
	const q = new URLSearchParams(location.search);
	if (q.get('from') && q.get('to')) {
		$('reach-from').value = q.get('from');
		$('reach-to').value = q.get('to');
		reach(q.get('from'), q.get('to'));
	}
	load();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main);
else main();
