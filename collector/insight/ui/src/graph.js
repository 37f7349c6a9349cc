// SPDX-License-Identifier: BSD-2-Clause
// The dependency graph: cytoscape, namespaces as compound nodes, fcose for the layout.

import cytoscape from 'cytoscape';
import fcose from 'cytoscape-fcose';

cytoscape.use(fcose);

/* As cytoscape reports a computed colour (edge.style('line-color')): tests compare these */
export const EDGE_COLORS = {
	ok: 'rgb(138,155,181)',
	degraded: 'rgb(240,140,30)',
	failing: 'rgb(214,48,39)',
};

/* Past this many nodes or edges the graph trades looks for speed (straight edges, a tighter layout). */
const BIG = 300;
/* Up to this many nodes, a roomy layout: namespaces well apart, labels clear of each other. */
const SMALL = 100;
/* The share of new nodes past which a refresh lays the whole graph out again. */
const RELAYOUT_SHARE = 0.25;
/*
 * A chain or a ring of more nodes than this (every node with at most two
 * neighbours) goes on a serpentine, not to fcose: its forces stretch it into
 * a circle or a line tens of thousands of pixels across, and fitted into the
 * view at the minimum zoom its nodes are under a pixel (an empty canvas).
 */
const LONG = 40;
/* The grid step of the serpentines and of the nodes without edges */
const STEP = 40;
/* The least zoom at which a fit must show the whole graph: nodes of 16 px stay over 2 px */
const FIT_ZOOM = 0.15;

export function edgeId(from, to, port) {
	return `${from} -> ${to} :${port}`;
}

export function namespaceId(ns) {
	/* a space: no app id ("ns/app") or address holds one */
	return `namespace ${ns}`;
}

/* red: at least half the connects failed; orange: some failed, or over 1% of segments retransmitted */
export function edgeHealth(e) {
	if (e.flows > 0 && (e.failure_ratio >= 0.5 || e.failed >= e.flows)) return 'failing';
	if (e.failure_ratio > 0 || e.retransmit_ratio > 0.01) return 'degraded';
	return 'ok';
}

/* by the order of magnitude: 1 px up to a kilobyte, 3.7 px a megabyte, 8 px from 100 GB */
export function edgeWidth(bytes) {
	const w = 1 + (Math.log10(1 + bytes) - 3) * 0.9;
	return Math.round(Math.min(8, Math.max(1, w)) * 10) / 10;
}

function style(big) {
	const edgeColor = (c) => ({ 'line-color': c, 'target-arrow-color': c });
	return [
		{
			selector: 'node',
			style: {
				width: 16,
				height: 16,
				'background-color': '#ffffff',
				'border-width': 2,
				'border-color': '#4a6fa5',
				label: 'data(label)',
				'font-family': 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
				'font-size': 10,
				color: '#26303c',
				'text-valign': 'bottom',
				'text-margin-y': 3,
				/* on a big graph, names only once zoomed in (and cheaper frames) */
				'min-zoomed-font-size': big ? 11 : 7,
				'text-background-color': '#ffffff',
				'text-background-opacity': 0.75,
				'text-background-padding': 1,
				'text-max-width': 120,
				'text-wrap': 'ellipsis',
			},
		},
		{
			selector: 'node[kind = "address"]',
			style: {
				shape: 'diamond',
				width: 18,
				height: 18,
				'background-color': '#f6f1e7',
				'border-color': '#9a7b4f',
				'border-style': 'dashed',
				color: '#6b5534',
			},
		},
		{
			selector: 'node[kind = "namespace"]',
			style: {
				shape: 'round-rectangle',
				'background-color': '#eef2f8',
				'background-opacity': 0.7,
				'border-width': 1,
				'border-color': '#c3cedd',
				label: 'data(label)',
				'font-size': 13,
				'font-weight': 600,
				color: '#51607a',
				'text-valign': 'top',
				'text-halign': 'center',
				'text-margin-y': -4,
				'text-background-opacity': 0,
				'min-zoomed-font-size': 5,
				padding: 14,
			},
		},
		{
			selector: 'edge',
			style: {
				width: 'data(width)',
				...edgeColor(EDGE_COLORS.ok),
				'curve-style': big ? 'straight' : 'bezier',
				'target-arrow-shape': 'triangle',
				'arrow-scale': 0.7,
				opacity: 0.8,
			},
		},
		{ selector: 'edge.degraded', style: { ...edgeColor(EDGE_COLORS.degraded), opacity: 0.95 } },
		{ selector: 'edge.failing', style: { ...edgeColor(EDGE_COLORS.failing), opacity: 1 } },
		{ selector: 'edge.new', style: { 'line-style': 'dashed', 'line-dash-pattern': [6, 3] } },
		{ selector: '.faded', style: { opacity: 0.12, 'text-opacity': 0.25 } },
		{ selector: 'node.match', style: { 'border-width': 3, 'border-color': '#1f6feb', 'z-index': 10 } },
		{
			selector: 'node:selected',
			style: { 'border-width': 3, 'border-color': '#1f6feb', 'background-color': '#dbe8fd' },
		},
		{
			selector: 'edge:selected',
			style: { 'overlay-color': '#1f6feb', 'overlay-opacity': 0.18, 'overlay-padding': 5, 'z-index': 20 },
		},
	];
}

/* The elements of one answer of /api/v1/apps and /api/v1/edges: Map(id -> element definition) */
function build(apps, edges) {
	const els = new Map();
	let overflow = 0;
	const addNode = (id, ns, name, kind) => {
		if (els.has(id)) return;
		const data = { id, label: kind === 'address' ? id : name || id, kind: kind || 'app', namespace: ns || '' };
		if (ns && kind !== 'address') {
			const pid = namespaceId(ns);
			if (!els.has(pid)) els.set(pid, { group: 'nodes', data: { id: pid, label: ns, kind: 'namespace' } });
			data.parent = pid;
		}
		els.set(id, { group: 'nodes', data });
	};
	for (const a of apps) addNode(a.id, a.namespace, a.app, a.kind);
	for (const e of edges) {
		if (e.from === '(overflow)') {
			overflow++;
			continue;
		}
		/* an end /api/v1/apps left out (its limit): from the edge's own names */
		addNode(e.from, e.from_namespace, e.from_app, 'app');
		addNode(e.to, e.to_namespace, e.to_app, e.to_kind);
		const id = edgeId(e.from, e.to, e.port);
		const health = edgeHealth(e);
		els.set(id, {
			group: 'edges',
			data: {
				id,
				source: e.from,
				target: e.to,
				port: e.port,
				width: edgeWidth(e.bytes_sent + e.bytes_received),
				health,
				edge: e,
			},
			classes: `${health}${e.new ? ' new' : ''}`,
		});
	}
	return { els, overflow };
}

/* Each app node's neighbours but itself, once, by id: a hub's neighbourhood is a thousand nodes */
function neighbours(cy, apps) {
	const nb = new Map();
	apps.forEach((n) => nb.set(n.id(), new Set()));
	cy.edges().forEach((e) => {
		const s = e.data('source');
		const t = e.data('target');
		if (s !== t && nb.has(s) && nb.has(t)) {
			nb.get(s).add(t);
			nb.get(t).add(s);
		}
	});
	return nb;
}

/*
 * The connected components of over LONG nodes in which no node has more
 * than two neighbours: chains and rings, [{ids (in order along them), cycle}].
 */
function findSnakes(apps, nb) {
	const seen = new Set();
	const out = [];
	const ids = apps.map((n) => n.id()).sort();
	for (const start of ids) {
		if (seen.has(start)) continue;
		/* the component, breadth first */
		const comp = [start];
		seen.add(start);
		let simple = nb.get(start).size <= 2;
		for (let i = 0; i < comp.length; i++)
			for (const m of nb.get(comp[i]))
				if (!seen.has(m)) {
					seen.add(m);
					comp.push(m);
					if (nb.get(m).size > 2) simple = false;
				}
		if (!simple || comp.length <= LONG) continue;
		/* a chain from its first end (by id), a ring from its first node */
		const ends = comp.filter((id) => nb.get(id).size < 2).sort();
		const cycle = ends.length === 0;
		const order = [cycle ? comp.reduce((a, b) => (b < a ? b : a)) : ends[0]];
		const on = new Set(order);
		for (;;) {
			const next = [...nb.get(order[order.length - 1])].filter((m) => !on.has(m)).sort()[0];
			if (next === undefined) break;
			order.push(next);
			on.add(next);
		}
		out.push({ ids: order, cycle });
	}
	return out;
}

/*
 * The grid cells, in units, of `n` nodes in a row along a serpentine of
 * `cols` columns: left to right, then back, a row lower each time.  A ring
 * keeps column 0 for its way back up to its first node.
 */
function serpentine(n, cols, cycle) {
	const pos = [];
	const first = cycle ? 1 : 0;
	const w = cols - first;
	const back = cycle ? Math.ceil(n / cols) : 0;
	const body = n - back;
	for (let i = 0; i < body; i++) {
		const row = Math.floor(i / w);
		const k = i % w;
		pos.push({ x: first + (row % 2 ? w - 1 - k : k), y: row });
	}
	if (back) {
		/* from below the last row (beside it when that row ends on the left) up to row 0 */
		const last = pos[pos.length - 1];
		const bottom = last.x === 1 ? last.y : last.y + 1;
		for (let j = 0; j < back; j++) pos.push({ x: 0, y: back > 1 ? bottom * (1 - j / (back - 1)) : 0 });
	}
	return pos;
}

export class Graph {
	constructor(container, handlers) {
		this.handlers = handlers;
		this.big = false;
		this.cy = cytoscape({
			container,
			style: style(false),
			minZoom: 0.03,
			maxZoom: 4,
			boxSelectionEnabled: false,
			selectionType: 'single',
			pixelRatio: 'auto',
		});
		const cy = this.cy;
		cy.on('tap', 'node', (ev) => {
			const n = ev.target;
			if (n.data('kind') === 'namespace') return;
			this.focus(n);
			handlers.node(n.id());
		});
		cy.on('tap', 'edge', (ev) => {
			this.focus(ev.target);
			handlers.edge(ev.target.data('edge'));
		});
		cy.on('tap', (ev) => {
			if (ev.target === cy) {
				this.unfocus();
				handlers.clear();
			}
		});
	}

	setBig(big) {
		if (big === this.big) return;
		this.big = big;
		this.cy.style(style(big));
		/* on a big graph, draw edges and labels only at rest while panning or zooming */
		const r = this.cy.renderer();
		if (r) {
			r.hideEdgesOnViewport = big;
			r.textureOnViewport = big;
		}
	}

	layoutOptions(n, randomize) {
		const big = n > BIG;
		return {
			name: 'fcose',
			/* not 'draft' (spectral only): it puts a star, or a chain, all on one spot */
			quality: 'default',
			randomize,
			animate: false,
			fit: false,
			padding: 30,
			nodeDimensionsIncludeLabels: false,
			uniformNodeDimensions: true,
			packComponents: false,
			nodeRepulsion: () => (n <= SMALL ? 45000 : 4500),
			idealEdgeLength: () => (n <= SMALL ? 120 : 50),
			edgeElasticity: () => 0.45,
			nestingFactor: 0.1,
			gravity: 0.25,
			gravityRangeCompound: 1.5,
			gravityCompound: 1.0,
			numIter: big ? 600 : 2500,
			tile: true,
			tilingPaddingVertical: 12,
			tilingPaddingHorizontal: 12,
		};
	}

	/* Lays the whole graph out; the time it took, in ms */
	layout(randomize = true) {
		const cy = this.cy;
		const n = cy.nodes().length;
		if (!n) return 0;
		const t0 = performance.now();
		const apps = cy.nodes('[kind != "namespace"]');
		const nb = neighbours(cy, apps);
		const snakes = findSnakes(apps, nb);
		if (n > BIG || snakes.length) this.layoutBig(apps, nb, snakes);
		else cy.layout(this.layoutOptions(n, randomize)).run();
		this.contain(apps);
		const ms = performance.now() - t0;
		this.fit();
		return ms;
	}

	/*
	 * The last resort: a layout still too wide to show at FIT_ZOOM (or with a
	 * position that is not a number) is drawn closer to its centre, crowded
	 * but on screen.
	 */
	contain(apps) {
		const cy = this.cy;
		const bad = apps.filter((m) => {
			const p = m.position();
			return !Number.isFinite(p.x) || !Number.isFinite(p.y);
		});
		if (bad.length) bad.positions((m, i) => ({ x: (i % 30) * STEP, y: Math.floor(i / 30) * STEP }));
		const bb = apps.boundingBox();
		const w = cy.width() || 800;
		const h = cy.height() || 600;
		const zoom = Math.min((w - 80) / Math.max(1, bb.w), (h - 80) / Math.max(1, bb.h));
		if (!(zoom < FIT_ZOOM)) return;
		const k = zoom / FIT_ZOOM;
		const cx = (bb.x1 + bb.x2) / 2;
		const cyy = (bb.y1 + bb.y2) / 2;
		cy.batch(() =>
			apps.positions((m) => {
				const p = m.position();
				return { x: cx + (p.x - cx) * k, y: cyy + (p.y - cyy) * k };
			}),
		);
	}

	/*
	 * A big graph: fcose only for its core, the nodes with two or more
	 * neighbours.  fcose's own handling of the rest (it prunes the trees,
	 * then grows them back ten iterations a batch) takes over ten seconds on
	 * a hub with 900 leaves: here a node with one neighbour goes on rings
	 * around it, and the nodes with none (their edges past the API's limit)
	 * on a grid below, by namespace.
	 */
	layoutBig(apps, nb, snakes) {
		const cy = this.cy;
		/* the chains and rings go on serpentines (placeRest) */
		const snaked = new Set();
		for (const sn of snakes) for (const id of sn.ids) snaked.add(id);
		const rest = snaked.size ? apps.filter((m) => !snaked.has(m.id())) : apps;
		const isolated = rest.filter((n) => nb.get(n.id()).size === 0);
		/* of two nodes with only each other, one is the core */
		const leaves = rest.filter((n) => {
			const o = nb.get(n.id());
			if (o.size !== 1) return false;
			const [hub] = o;
			return nb.get(hub).size > 1 || hub < n.id();
		});
		const core = rest.not(isolated).not(leaves);
		if (core.length > 1) {
			/*
			 * The namespaces only when there are several and most calls stay
			 * inside one: a compound node brings all its children into
			 * fcose's sums, the gridded ones too (one namespace of 1000 apps:
			 * 2.4 s with it, 1 s without), and namespaces that mostly call
			 * each other overlap however they are laid out.
			 */
			const spaces = new Set(core.map((n) => n.data('namespace')));
			const coreEdges = core.edgesWith(core);
			const inside = coreEdges.filter((e) => e.source().data('namespace') === e.target().data('namespace'));
			let eles = core.union(coreEdges);
			if (spaces.size > 1 && inside.length > coreEdges.length / 2) eles = eles.union(core.ancestors());
			eles.layout(this.layoutOptions(core.length, true)).run();
		} else if (core.length) {
			core.positions({ x: 0, y: 0 });
		}
		/* not fcose inside a batch: with compound nodes, nothing is drawn after it */
		cy.batch(() => this.placeRest(nb, leaves, isolated, snakes, rest));
	}

	/*
	 * The nodes layoutBig() leaves out of fcose: `nb` maps an id to its
	 * neighbours', `rest` is every app node but the serpentines'.
	 */
	placeRest(nb, leaves, isolated, snakes, rest) {
		const cy = this.cy;
		/* rings around each hub, 26 px apart along a ring, 30 px between rings */
		const byHub = new Map();
		leaves.forEach((n) => {
			const [hub] = nb.get(n.id());
			if (!byHub.has(hub)) byHub.set(hub, []);
			byHub.get(hub).push(n);
		});
		for (const [hubId, ns] of byHub) {
			const c = cy.getElementById(hubId).position();
			let i = 0;
			for (let r = 50; i < ns.length; r += 30) {
				const cap = Math.max(6, Math.floor((2 * Math.PI * r) / 26));
				const k = Math.min(cap, ns.length - i);
				for (let j = 0; j < k; j++, i++) {
					const a = (2 * Math.PI * j) / k + r / 100;
					ns[i].position({ x: c.x + r * Math.cos(a), y: c.y + r * Math.sin(a) });
				}
			}
		}
		/* below what is laid out: the serpentines side by side, then the grid */
		const placed = rest.not(isolated);
		const bb = placed.length ? placed.boundingBox() : { x1: 0, x2: 0, y2: -80 };
		let snakeArea = 0;
		for (const sn of snakes) snakeArea += sn.ids.length;
		const width = Math.max(600, bb.x2 - bb.x1, Math.sqrt(snakeArea + isolated.length) * STEP * 1.3);
		let y = bb.y2 + 80;
		let x = bb.x1;
		let shelf = 0;
		for (const sn of snakes) {
			const cols = Math.max(3, Math.ceil(Math.sqrt(sn.ids.length)));
			const w = cols * STEP;
			if (x > bb.x1 && x + w > bb.x1 + width) {
				x = bb.x1;
				y += shelf + 60;
				shelf = 0;
			}
			const pos = serpentine(sn.ids.length, cols, sn.cycle);
			sn.ids.forEach((id, i) =>
				cy.getElementById(id).position({ x: x + pos[i].x * STEP, y: y + pos[i].y * STEP }),
			);
			const rows = pos.reduce((m, p) => Math.max(m, p.y), 0);
			shelf = Math.max(shelf, rows * STEP);
			x += w + 60;
		}
		if (snakes.length) y += shelf + 80;
		const cols = Math.max(1, Math.floor(width / STEP));
		const groups = new Map();
		isolated
			.sort((a, b) => (a.id() < b.id() ? -1 : 1))
			.forEach((n) => {
				const ns = n.data('namespace');
				if (!groups.has(ns)) groups.set(ns, []);
				groups.get(ns).push(n);
			});
		for (const ns of groups.values()) {
			ns.forEach((n, i) => n.position({ x: bb.x1 + (i % cols) * STEP, y: y + Math.floor(i / cols) * STEP }));
			y += Math.ceil(ns.length / cols) * STEP + 60;
		}
	}

	/*
	 * Puts new nodes next to what they connect to (or beside their namespace,
	 * or the graph), leaving every other node where it is.
	 */
	place(newNodes) {
		const cy = this.cy;
		const bb = cy.nodes().not(newNodes).boundingBox();
		/* where nodes are: the old ones, then each new one as it is placed */
		const taken = cy
			.nodes('[kind != "namespace"]')
			.not(newNodes)
			.map((m) => m.position());
		const room = (p) => taken.reduce((d, q) => Math.min(d, (p.x - q.x) ** 2 + (p.y - q.y) ** 2), Infinity);
		newNodes.forEach((n) => {
			if (n.data('kind') === 'namespace') return;
			const known = n.neighborhood('node').not(newNodes);
			let c;
			if (known.length) {
				c = {
					x: known.reduce((s, m) => s + m.position('x'), 0) / known.length,
					y: known.reduce((s, m) => s + m.position('y'), 0) / known.length,
				};
			} else {
				const siblings = n.parent().length ? n.parent().children().not(newNodes) : cy.collection();
				const sb = siblings.length ? siblings.boundingBox() : bb;
				c = { x: Number.isFinite(sb.x2) ? sb.x2 + 40 : 0, y: Number.isFinite(sb.y1) ? sb.y1 : 0 };
			}
			/* of two rings of spots around there, the one furthest from every node */
			let best = c;
			let bestRoom = -1;
			for (const r of [70, 110]) {
				for (let i = 0; i < 12; i++) {
					const p = { x: c.x + r * Math.cos((i * Math.PI) / 6), y: c.y + r * Math.sin((i * Math.PI) / 6) };
					const d = room(p);
					if (d > bestRoom) {
						best = p;
						bestRoom = d;
					}
				}
			}
			n.position(best);
			taken.push(best);
		});
	}

	/*
	 * Shows the answers of /api/v1/apps and /api/v1/edges: on the first call,
	 * or when many nodes are new, a whole layout; otherwise existing nodes
	 * keep their places.  Returns {layout_ms, render_ms, nodes, edges,
	 * overflow, relaid}.
	 */
	async update(apps, edges) {
		const cy = this.cy;
		const t0 = performance.now();
		const { els, overflow } = build(apps, edges);
		const first = cy.nodes().length === 0;
		let added = cy.collection();
		cy.batch(() => {
			cy.elements().forEach((el) => {
				if (!els.has(el.id())) el.remove();
			});
			const fresh = [];
			for (const [id, def] of els) {
				const el = cy.getElementById(id);
				if (el.length) {
					if (def.group === 'edges') {
						el.data(def.data);
						el.classes(def.classes);
					}
				} else {
					fresh.push(def);
				}
			}
			this.setBig(els.size > 2 * BIG);
			/* parents before their children: a Map keeps insertion order, namespaces come first */
			if (fresh.length) added = cy.add(fresh);
		});
		const newNodes = added.nodes();
		const appNodes = cy.nodes('[kind != "namespace"]');
		let layoutMs = 0;
		const relaid = first || newNodes.length > RELAYOUT_SHARE * appNodes.length;
		const t1 = performance.now();
		if (relaid) layoutMs = this.layout(true);
		else if (newNodes.length) this.place(newNodes);
		const t2 = performance.now();
		await this.rendered();
		const t3 = performance.now();
		return {
			layout_ms: Math.round(layoutMs),
			render_ms: Math.round(t1 - t0 + (t3 - t2)),
			nodes: appNodes.length,
			edges: cy.edges().length,
			overflow,
			relaid,
		};
	}

	/* Resolves once cytoscape has drawn a frame (or after 3 s: a hidden tab draws none) */
	rendered() {
		return new Promise((resolve) => {
			let done = false;
			const finish = () => {
				if (!done) {
					done = true;
					requestAnimationFrame(() => resolve());
				}
			};
			this.cy.one('render', finish);
			setTimeout(finish, 3000);
			/* a no-op viewport change: makes sure a frame is scheduled */
			this.cy.pan(this.cy.pan());
		});
	}

	/* Fades all but `el` and what it touches */
	focus(el) {
		const cy = this.cy;
		const keep = el.isNode() ? el.closedNeighborhood() : el.union(el.connectedNodes());
		cy.batch(() => {
			cy.elements().addClass('faded');
			keep.union(keep.nodes().ancestors()).removeClass('faded');
		});
	}

	unfocus() {
		this.cy.elements().removeClass('faded');
	}

	/* Highlights the app nodes whose id holds `q` (case-insensitive); how many */
	search(q) {
		const cy = this.cy;
		const needle = q.trim().toLowerCase();
		let matches = cy.collection();
		cy.batch(() => {
			cy.elements().removeClass('match faded');
			if (!needle) return;
			matches = cy.nodes('[kind != "namespace"]').filter((n) => n.id().toLowerCase().includes(needle));
			cy.elements().not(matches.union(matches.ancestors())).addClass('faded');
			matches.addClass('match');
		});
		return matches;
	}

	/* Selects an element by id and brings it into view; false if it is not in the graph */
	select(id) {
		const el = this.cy.getElementById(id);
		if (!el.length) return false;
		this.cy.elements().unselect();
		el.select();
		this.focus(el);
		const around = el.isNode() ? el.closedNeighborhood() : el.union(el.connectedNodes());
		this.cy.fit(around, 80);
		if (this.cy.zoom() > 1.6) {
			this.cy.zoom(1.6);
			this.cy.center(around);
		}
		return true;
	}

	/* The whole graph in view, but a handful of nodes not blown up to fill it */
	fit() {
		const cy = this.cy;
		cy.fit(undefined, 40);
		if (cy.zoom() > 1.5) {
			cy.zoom(1.5);
			cy.center();
		}
	}
}
