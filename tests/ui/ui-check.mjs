#!/usr/bin/env node
// SPDX-License-Identifier: BSD-2-Clause
// The insight UI in a real browser (Debian's chromium through playwright-core): what it draws and answers.
//
//   node tests/ui/ui-check.mjs --url http://127.0.0.1:PORT/ --expect expect.json --shots DIR
//   node tests/ui/ui-check.mjs --url http://127.0.0.1:PORT/ --scale [--min-nodes 1000] [--shots DIR]
//
// expect.json: {"apps": ["ns/a", ...], "edges": [{"from", "to", "port"}, ...],
//   "working": {"from", "to"}, "failing": {"from", "to", "error"}}.  With it:
// the graph's nodes (apps and addresses, not the namespace groups) are
// exactly `apps` and its edges exactly `edges`; the failing pair's edges are
// drawn in the failing colour and the working pair's are not; the "can A
// reach B" form says yes for the working pair and no, naming the error, for
// the failing one; a click on the failing edge opens its charts.  --scale:
// at least --min-nodes app nodes are drawn.  Either way: every node at a
// finite position, the fitted graph inside its container with its app
// nodes at least 2 px wide, a screenshot of the graph that is not blank, no
// page error nor console error, and one JSON line of timings on stdout:
// {nodes, edges, layout_ms, render_ms, load_ms}.  Exit 0, or 1 with a line per failed
// assertion (2: bad usage).  Screenshots go to --shots (graph.png,
// path-ok.png, path-failing.png, edge-panel.png; failure.png when it fails).

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

function usage(msg) {
	if (msg) console.error(`ui-check: ${msg}`);
	console.error(
		'usage: ui-check.mjs --url URL (--expect FILE | --scale [--min-nodes N]) [--shots DIR] [--timeout MS] [--chromium PATH]',
	);
	process.exit(2);
}

function parseArgs(argv) {
	const o = {
		url: null,
		expect: null,
		shots: null,
		scale: false,
		minNodes: 1000,
		timeout: 60000,
		chromium: process.env.CHROMIUM || '/usr/bin/chromium',
	};
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		const val = () => {
			if (i + 1 >= argv.length) usage(`${a} needs a value`);
			return argv[++i];
		};
		switch (a) {
			case '--url':
				o.url = val();
				break;
			case '--expect':
				o.expect = val();
				break;
			case '--shots':
				o.shots = val();
				break;
			case '--scale':
				o.scale = true;
				break;
			case '--min-nodes':
				o.minNodes = Number(val());
				break;
			case '--timeout':
				o.timeout = Number(val());
				break;
			case '--chromium':
				o.chromium = val();
				break;
			default:
				usage(`unknown argument ${a}`);
		}
	}
	if (!o.url) usage('--url is required');
	if (!o.scale === !o.expect) usage('give --expect FILE or --scale (one of them)');
	if (!Number.isInteger(o.minNodes) || o.minNodes < 1) usage('--min-nodes: a positive integer');
	if (!(o.timeout > 0)) usage('--timeout: milliseconds');
	return o;
}

const opts = parseArgs(process.argv.slice(2));
const failures = [];

function fail(msg) {
	failures.push(msg);
	console.error(`ui-check: FAIL: ${msg}`);
}

function check(cond, msg) {
	if (!cond) fail(msg);
	return cond;
}

const edgeKey = (e) => `${e.from} -> ${e.to} :${e.port}`;
const sameColor = (a, b) => String(a).replace(/\s+/g, '') === String(b).replace(/\s+/g, '');

function loadExpect(file) {
	let x;
	try {
		x = JSON.parse(fs.readFileSync(file, 'utf8'));
	} catch (e) {
		usage(`--expect ${file}: ${e.message}`);
	}
	const pair = (p, name) =>
		p && typeof p.from === 'string' && typeof p.to === 'string' ? p : usage(`${file}: "${name}" needs from and to`);
	if (!Array.isArray(x.apps) || !x.apps.every((a) => typeof a === 'string')) usage(`${file}: "apps" must be a list of ids`);
	if (!Array.isArray(x.edges) || !x.edges.every((e) => e && e.from && e.to && Number.isInteger(e.port)))
		usage(`${file}: "edges" must be a list of {from, to, port}`);
	pair(x.working, 'working');
	pair(x.failing, 'failing');
	if (typeof x.failing.error !== 'string' || !x.failing.error) usage(`${file}: "failing" needs its error`);
	return x;
}

/* the whole page, or the viewport only (a full-page capture resizes it, and a scrolled panel with it) */
async function shot(page, name, fullPage = true) {
	if (!opts.shots) return;
	await page.screenshot({ path: path.join(opts.shots, name), fullPage });
}

/* What the page drew: its app nodes, its edges with their computed colour, the timings */
async function readGraph(page) {
	return page.evaluate(() => {
		const pf = window.podflow;
		const cy = pf.cy;
		return {
			nodes: cy
				.nodes()
				.filter((n) => n.data('kind') !== 'namespace')
				.map((n) => ({ id: n.id(), kind: n.data('kind') })),
			edges: cy.edges().map((e) => ({
				id: e.id(),
				from: e.data('source'),
				to: e.data('target'),
				port: e.data('port'),
				color: e.style('line-color'),
				dashed: e.style('line-style') === 'dashed',
			})),
			colors: pf.colors,
			timings: pf.timings,
		};
	});
}

/*
 * That the graph is really drawn, not just in cytoscape's model: every node
 * at a finite position; after the page's fit, the rendered bounding box of
 * all elements inside the graph's container, and the app nodes big enough
 * to see; and a screenshot of the graph element (its buttons and legend
 * hidden) with ink on it, pixels well apart from its background colour (a
 * layout tens of thousands of pixels wide, fitted at the minimum zoom, draws
 * nodes under a pixel wide: a blank canvas, though every node "exists").
 */
async function checkDrawn(page) {
	const v = await page.evaluate(() => {
		const cy = window.podflow.cy;
		const bad = cy.nodes().filter((n) => {
			const p = n.position();
			return !Number.isFinite(p.x) || !Number.isFinite(p.y);
		});
		const apps = cy.nodes('[kind != "namespace"]');
		const r = cy.elements().renderedBoundingBox();
		const bb = cy.elements().boundingBox();
		const ext = cy.extent();
		return {
			bad: bad.map((n) => `${n.id()} at (${n.position('x')}, ${n.position('y')})`),
			apps: apps.length,
			width: cy.width(),
			height: cy.height(),
			zoom: cy.zoom(),
			nodeSize: apps.length ? Math.min(...apps.map((n) => n.renderedWidth())) : 0,
			rbb: [r.x1, r.y1, r.x2, r.y2],
			bb: [bb.x1, bb.y1, bb.x2, bb.y2],
			ext: [ext.x1, ext.y1, ext.x2, ext.y2],
		};
	});
	const fmt = (b) => b.map((x) => (Number.isFinite(x) ? Math.round(x) : String(x))).join(', ');
	check(!v.bad.length, `${v.bad.length} node(s) at no finite position: ${v.bad.slice(0, 5).join('; ')}`);
	const slack = 2;
	const [x1, y1, x2, y2] = v.rbb;
	check(
		[x1, y1, x2, y2].every(Number.isFinite) &&
			x1 >= -slack &&
			y1 >= -slack &&
			x2 <= v.width + slack &&
			y2 <= v.height + slack,
		`after the fit the graph's rendered bounding box (${fmt(v.rbb)}) is not inside its ${v.width}x${v.height} container ` +
			`(model box ${fmt(v.bb)}, visible extent ${fmt(v.ext)}, zoom ${v.zoom})`,
	);
	check(
		!v.apps || v.nodeSize >= 2,
		`after the fit the app nodes are drawn ${v.nodeSize.toFixed(2)} px wide (zoom ${v.zoom}): too small to see`,
	);
	/* a frame at the fitted viewport, then its pixels */
	await page.waitForTimeout(200);
	const png = await page.locator('[data-testid=graph]').screenshot({
		style: '.graph-tools, .legend, .graph-notice { visibility: hidden !important; }',
	});
	const ink = await page.evaluate(async (b64) => {
		const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
		const bmp = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
		const c = new OffscreenCanvas(bmp.width, bmp.height);
		const g = c.getContext('2d');
		g.drawImage(bmp, 0, 0);
		const d = g.getImageData(0, 0, bmp.width, bmp.height).data;
		/* the background: the commonest colour */
		const count = new Map();
		for (let i = 0; i < d.length; i += 4) {
			const k = (d[i] << 16) | (d[i + 1] << 8) | d[i + 2];
			count.set(k, (count.get(k) || 0) + 1);
		}
		let bg = 0;
		let most = -1;
		for (const [k, n] of count) if (n > most) [bg, most] = [k, n];
		const br = bg >> 16;
		const bgr = (bg >> 8) & 255;
		const bb = bg & 255;
		/* ink: a channel over 40 apart (not a namespace box's tint, nor a node's white) */
		let n = 0;
		for (let i = 0; i < d.length; i += 4)
			if (Math.max(Math.abs(d[i] - br), Math.abs(d[i + 1] - bgr), Math.abs(d[i + 2] - bb)) > 40) n++;
		return { ink: n, pixels: d.length / 4, bg: `#${bg.toString(16).padStart(6, '0')}` };
	}, png.toString('base64'));
	/* a thousand nodes fitted at a zoom of 0.2 (3 px each, hairline edges): some 1% */
	const need = Math.min(0.0025 * ink.pixels, 5 * v.apps);
	check(
		ink.ink >= need,
		`the graph canvas is blank: ${ink.ink} of ${ink.pixels} pixels (${((100 * ink.ink) / ink.pixels).toFixed(3)}%) stand out ` +
			`from its background ${ink.bg}, expected at least ${Math.ceil(need)} for ${v.apps} app nodes`,
	);
	return { zoom: v.zoom, ink: ink.ink / ink.pixels };
}

function diff(label, want, got) {
	const w = new Set(want);
	const g = new Set(got);
	const missing = [...w].filter((x) => !g.has(x));
	const extra = [...g].filter((x) => !w.has(x));
	check(!missing.length, `${label}: expected but not drawn: ${missing.join(', ')}`);
	check(!extra.length, `${label}: drawn but not expected: ${extra.join(', ')}`);
}

/* Asks the "can A reach B" form; its answer {status, verdict, text} and whether it drew a chart */
async function ask(page, from, to) {
	await page.fill('[data-testid=reach-from]', from);
	await page.fill('[data-testid=reach-to]', to);
	await page.click('[data-testid=reach-submit]');
	await page.waitForFunction(
		([f, t]) => {
			const a = document.querySelector('[data-testid=reach-answer]');
			return a && a.dataset.status && a.textContent.includes(f) && a.textContent.includes(t);
		},
		[from, to],
		{ timeout: opts.timeout },
	);
	/* the chart comes right after the answer */
	await page.waitForTimeout(100);
	return page.evaluate(() => {
		const a = document.querySelector('[data-testid=reach-answer]');
		return {
			status: a.dataset.status,
			verdict: a.dataset.verdict,
			text: a.textContent,
			chart: !!document.querySelector('[data-testid=reach-chart] .uplot canvas'),
		};
	});
}

/* A real mouse click on the edge's midpoint, once the view is fitted to the edge and its ends */
async function clickEdge(page, id) {
	const at = await page.evaluate((eid) => {
		const cy = window.podflow.cy;
		const e = cy.getElementById(eid);
		if (!e.length) return null;
		cy.fit(e.union(e.connectedNodes()), 120);
		if (cy.zoom() > 2) {
			cy.zoom(2);
			cy.center(e);
		}
		const m = e.renderedMidpoint();
		const r = cy.container().getBoundingClientRect();
		return { x: r.left + m.x, y: r.top + m.y };
	}, id);
	if (!at) return false;
	await page.waitForTimeout(150); /* a frame at the new viewport */
	await page.mouse.click(at.x, at.y);
	return true;
}

async function checkExpect(page, x, g) {
	await checkDrawn(page);
	diff(
		'app nodes',
		x.apps,
		g.nodes.map((n) => n.id),
	);
	diff('edges (from -> to :port)', x.edges.map(edgeKey), g.edges.map(edgeKey));

	const between = (p) => g.edges.filter((e) => e.from === p.from && e.to === p.to);
	const working = between(x.working);
	const failing = between(x.failing);
	if (check(working.length, `no edge drawn from ${x.working.from} to ${x.working.to} (the working pair)`))
		for (const e of working)
			check(
				!sameColor(e.color, g.colors.failing),
				`the working edge ${e.id} is drawn in the failing colour ${e.color}`,
			);
	if (check(failing.length, `no edge drawn from ${x.failing.from} to ${x.failing.to} (the failing pair)`))
		for (const e of failing)
			check(
				sameColor(e.color, g.colors.failing),
				`the failing edge ${e.id} is drawn in ${e.color}, not the failing colour ${g.colors.failing}`,
			);
	await shot(page, 'graph.png');

	const ok = await ask(page, x.working.from, x.working.to);
	check(
		/^Yes\b/.test(ok.text),
		`can ${x.working.from} reach ${x.working.to}: expected an answer starting "Yes", got "${ok.text}" (status ${ok.status})`,
	);
	check(ok.chart, `can ${x.working.from} reach ${x.working.to}: no chart of the connects over time`);
	await shot(page, 'path-ok.png');

	const no = await ask(page, x.failing.from, x.failing.to);
	check(
		/^No\b/.test(no.text) && !/^No record\b/.test(no.text),
		`can ${x.failing.from} reach ${x.failing.to}: expected an answer starting "No", got "${no.text}" (status ${no.status})`,
	);
	check(
		no.text.toLowerCase().includes(x.failing.error.toLowerCase()),
		`can ${x.failing.from} reach ${x.failing.to}: the answer does not name the error "${x.failing.error}": "${no.text}"`,
	);
	check(no.chart, `can ${x.failing.from} reach ${x.failing.to}: no chart of the failures over time`);
	await shot(page, 'path-failing.png');

	if (failing.length) {
		const id = failing[0].id;
		await clickEdge(page, id);
		try {
			await page.waitForFunction(
				(eid) => {
					const p = document.querySelector('[data-testid=edge-panel]');
					return p && p.dataset.edge === eid && p.querySelectorAll('[data-testid=edge-charts] .uplot canvas').length >= 4;
				},
				id,
				{ timeout: Math.min(opts.timeout, 10000) },
			);
		} catch {
			const shown = await page.evaluate(() => {
				const p = document.querySelector('[data-testid=edge-panel]');
				return p ? `the panel of ${p.dataset.edge}` : document.querySelector('[data-testid=details-title]').textContent;
			});
			fail(`a click on the failing edge ${id} did not open its panel with four charts (the side panel shows: ${shown})`);
		}
		/* the side panel scrolled to the edge's figures and charts, the page to its top */
		await page.evaluate(() => {
			const details = document.querySelector('[data-testid=details]');
			const side = details.parentElement;
			side.scrollTop += details.getBoundingClientRect().top - side.getBoundingClientRect().top;
		});
		await page.waitForTimeout(100);
		await shot(page, 'edge-panel.png', false);
	}
}

async function main() {
	const x = opts.expect ? loadExpect(opts.expect) : null;
	if (opts.shots) fs.mkdirSync(opts.shots, { recursive: true });
	if (!fs.existsSync(opts.chromium)) usage(`${opts.chromium}: no chromium there (apt-get install chromium, or --chromium PATH)`);
	const pageErrors = [];
	const browser = await chromium.launch({
		executablePath: opts.chromium,
		args: ['--headless', '--no-sandbox', '--disable-gpu'],
	});
	let page;
	try {
		const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
		page = await context.newPage();
		page.setDefaultTimeout(opts.timeout);
		page.on('pageerror', (e) => pageErrors.push(`page error: ${e.message}`));
		page.on('console', (m) => {
			if (m.type() === 'error') pageErrors.push(`console error: ${m.text()}`);
		});
		page.on('requestfailed', (r) => pageErrors.push(`request failed: ${r.url()}: ${r.failure()?.errorText}`));

		const resp = await page.goto(opts.url, { waitUntil: 'load', timeout: opts.timeout });
		if (!resp || !resp.ok()) throw new Error(`GET ${opts.url}: HTTP ${resp ? resp.status() : 'no answer'}`);
		await page.waitForFunction(() => window.podflow && (window.podflow.isReady || window.podflow.error), null, {
			timeout: opts.timeout,
		});
		const err = await page.evaluate(() => window.podflow.error);
		if (err) throw new Error(`the page could not load the API: ${err}`);
		const g = await readGraph(page);
		const nodes = g.nodes.filter((n) => n.kind !== 'namespace').length;
		if (x) {
			await checkExpect(page, x, g);
		} else {
			check(nodes >= opts.minNodes, `expected at least ${opts.minNodes} app nodes drawn, got ${nodes}`);
			await checkDrawn(page);
			await shot(page, 'graph.png');
		}
		for (const e of pageErrors) fail(e);
		console.log(
			JSON.stringify({
				nodes,
				edges: g.edges.length,
				layout_ms: g.timings.layout_ms,
				render_ms: g.timings.render_ms,
				load_ms: g.timings.load_ms,
			}),
		);
	} catch (e) {
		for (const pe of pageErrors) fail(pe);
		fail(e.message.split('\n')[0]);
		if (page) await shot(page, 'failure.png').catch(() => {});
	} finally {
		await browser.close();
	}
	if (failures.length) {
		console.error(`ui-check: ${failures.length} failure(s)`);
		process.exit(1);
	}
}

main().catch((e) => {
	console.error(`ui-check: FAIL: ${e.stack || e}`);
	process.exit(1);
});
