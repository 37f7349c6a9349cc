// SPDX-License-Identifier: BSD-2-Clause
// Building DOM from data: text only ever goes in as text (app names are the cluster's, not ours).

/* h('td', {class: 'num', dataset: {testid: 'x'}, onclick}, 'text', child...) */
export function h(tag, attrs = {}, ...children) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v == null || v === false) continue;
		if (k === 'class') el.className = v;
		else if (k === 'dataset') Object.assign(el.dataset, v);
		else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
		else el.setAttribute(k, v === true ? '' : v);
	}
	for (const c of children.flat(Infinity)) {
		if (c == null || c === false) continue;
		el.append(c instanceof Node ? c : String(c));
	}
	return el;
}

export function $(id) {
	return document.getElementById(id);
}

/* Replaces el's children */
export function fill(el, ...children) {
	el.replaceChildren(...children.flat(Infinity).filter((c) => c != null && c !== false));
	return el;
}
