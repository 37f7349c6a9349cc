/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The web UI's built files (build/ui: index.html, app.js, app.css, made from
 * collector/insight/ui by esbuild) inside the binary, and the table of them
 * ui_assets.h declares (struct admin_asset, lib/admin.h: four words, which
 * ui_assets.c asserts).  The table is here, not in C: a file's size is known
 * once it is assembled, and C cannot take the difference of two symbols as
 * a constant, so a C table would need filling at run time.
 *
 * The Makefile assembles this with -Wa,-I,build/ui (where .incbin looks) and
 * makes the object depend on the three files: a UI change relinks the
 * collector.  %progbits, not @progbits: `@` starts a comment on arm64.
 */
#if __SIZEOF_POINTER__ != 8 || __SIZEOF_SIZE_T__ != 8
#error "ui_assets.S writes struct admin_asset as four 64-bit words"
#endif

/* ASSET name, "file": its bytes at insight_ui_<name>, .Lend_<name> just past them */
.macro ASSET name, file
	.section .rodata.insight_ui_\name, "a", %progbits
	.balign 16
	.global insight_ui_\name
	.type insight_ui_\name, %object
insight_ui_\name:
	.incbin "\file"
.Lend_\name:
	.byte 0 /* a NUL past the end, for a debugger's eyes; the size leaves it out */
	.size insight_ui_\name, . - insight_ui_\name
.endm

	ASSET index_html, "index.html"
	ASSET app_js, "app.js"
	ASSET app_css, "app.css"

	.section .rodata.insight_ui_str, "aMS", %progbits, 1
.Lroot:	.asciz "/"
.Lindex: .asciz "/index.html"
.Ljs:	.asciz "/app.js"
.Lcss:	.asciz "/app.css"
.Lct_html: .asciz "text/html; charset=utf-8"
.Lct_js: .asciz "text/javascript; charset=utf-8"
.Lct_css: .asciz "text/css; charset=utf-8"

/* ENTRY path, content type, name: one struct admin_asset {path, content_type, data, len} */
.macro ENTRY path, type, name
	.quad \path, \type, insight_ui_\name, .Lend_\name - insight_ui_\name
.endm

	/* pointers, relocated at load in a PIE: written once, then read-only (RELRO) */
	.section .data.rel.ro.insight_ui_assets, "aw", %progbits
	.balign 8
	.global insight_ui_assets
	.type insight_ui_assets, %object
insight_ui_assets:
	ENTRY .Lroot, .Lct_html, index_html
	ENTRY .Lindex, .Lct_html, index_html
	ENTRY .Ljs, .Lct_js, app_js
	ENTRY .Lcss, .Lct_css, app_css
.Ltable_end:
	.size insight_ui_assets, . - insight_ui_assets

	.section .rodata.insight_ui_n_assets, "a", %progbits
	.balign 8
	.global insight_ui_n_assets
	.type insight_ui_n_assets, %object
insight_ui_n_assets:
	.quad (.Ltable_end - insight_ui_assets) / 32
	.size insight_ui_n_assets, 8

/* no executable stack because of this object (the Makefile passes -Wa,--noexecstack too) */
	.section .note.GNU-stack, "", %progbits
