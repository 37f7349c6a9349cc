// SPDX-License-Identifier: BSD-2-Clause
/* A binary's command line, from its configuration table: one flag per key. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

/* What --help shows after a flag: the kind of value it takes. */
static const char *metavar(const struct config_key *k)
{
	switch (k->type) {
	case CONFIG_BOOL:
		return "true|false";
	case CONFIG_U32:
		return "N";
	case CONFIG_BYTES:
		return "BYTES";
	case CONFIG_DURATION:
		return "DUR";
	case CONFIG_LOG_LEVEL:
		return "LEVEL";
	case CONFIG_ADDR_PORT:
		return "ADDR:PORT";
	case CONFIG_PORT_LIST:
		return "PORT,...";
	case CONFIG_CIDR_LIST:
		return "CIDR,...";
	case CONFIG_STRING:
		break;
	}
	return "VALUE";
}

static void usage(const struct config_schema *s, const struct config_cli *cli, FILE *f)
{
	fputs(cli->usage_head, f);
	fprintf(f, "  --%-20s %s\n", "config FILE",
		"YAML configuration (docs/config.md); watched, reloaded live");
	if (cli->config_optional)
		fprintf(f, "  --%-20s %s\n", "config-optional",
			"the --config file may be absent (its directory must exist): the defaults "
			"and flags until it appears");
	for (size_t i = 0; i < cli->n_switches; i++)
		fprintf(f, "  --%-20s %s\n", cli->switches[i].flag, cli->switches[i].help);
	for (size_t i = 0; i < s->n_keys; i++) {
		const struct config_key *k = &s->keys[i];
		char opt[64];

		if (!k->flag)
			continue;
		snprintf(opt, sizeof(opt), "%s %s", k->flag, metavar(k));
		fprintf(f, "  --%-20s %s%s\n", opt, k->help, k->live ? "" : " [restart]");
	}
	fprintf(f, "  --%-20s %s\n", "help-config", "every configuration key as a Markdown table");
	fprintf(f, "  --help\n\nFlags override the file, at start and at every reload.%s",
		cli->usage_tail ? cli->usage_tail : "\n");
}

int config_parse_args(const struct config_schema *s, const struct config_cli *cli, int argc,
		      char **argv, const char **config_path, const char **flags)
{
	enum {
		OPT_CONFIG = 1,
		OPT_HELP,
		OPT_HELP_CONFIG,
		OPT_CONFIG_OPTIONAL,
		OPT_SWITCH = 256,
		OPT_KEY = 512
	};
	/*
	 * Every switch and every key's flag: as many as the table has
	 * (CONFIG_MAX_FLAGS bounds what one command line sets, not these).
	 */
	struct option *opts = calloc(cli->n_switches + s->n_keys + 5, sizeof(*opts));
	size_t n_opts = 0, n_flags = 0;
	int c, idx, ret = 0;

	if (!opts) {
		pr_warn("out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < cli->n_switches; i++)
		opts[n_opts++] = (struct option){ cli->switches[i].flag, no_argument, NULL,
						  OPT_SWITCH + (int)i };
	for (size_t i = 0; i < s->n_keys; i++)
		if (s->keys[i].flag)
			opts[n_opts++] = (struct option){ s->keys[i].flag, required_argument, NULL,
							  OPT_KEY + (int)i };
	opts[n_opts++] = (struct option){ "config", required_argument, NULL, OPT_CONFIG };
	opts[n_opts++] = (struct option){ "help", no_argument, NULL, OPT_HELP };
	opts[n_opts++] = (struct option){ "help-config", no_argument, NULL, OPT_HELP_CONFIG };
	if (cli->config_optional)
		opts[n_opts++] =
		    (struct option){ "config-optional", no_argument, NULL, OPT_CONFIG_OPTIONAL };
	opts[n_opts] = (struct option){ NULL, 0, NULL, 0 };

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, &idx)) != -1) {
		if (n_flags + 2 > CONFIG_FLAGS_LEN - 1) {
			pr_warn("too many options (at most %d)", CONFIG_MAX_FLAGS);
			ret = -EINVAL;
			break;
		}
		if (c >= OPT_KEY && c < OPT_KEY + (int)s->n_keys) {
			const struct config_key *k = &s->keys[c - OPT_KEY];

			flags[n_flags++] = k->key;
			/* "--stats-interval 0" predates units: zero needs none */
			flags[n_flags++] =
			    strcmp(optarg, "0") == 0 && k->type == CONFIG_DURATION ? "0s" : optarg;
		} else if (c >= OPT_SWITCH && c < OPT_SWITCH + (int)cli->n_switches) {
			flags[n_flags++] = cli->switches[c - OPT_SWITCH].key;
			flags[n_flags++] = cli->switches[c - OPT_SWITCH].value;
		} else if (c == OPT_CONFIG) {
			*config_path = optarg;
		} else if (c == OPT_CONFIG_OPTIONAL) {
			*cli->config_optional = true;
		} else if (c == OPT_HELP) {
			usage(s, cli, stdout);
			ret = 1;
			break;
		} else if (c == OPT_HELP_CONFIG) {
			/* the table docs/config.md is made from */
			config_print_markdown(s, stdout);
			ret = 1;
			break;
		} else {
			if (optopt)
				pr_warn("option -%c: unknown or missing its argument (see --help)",
					optopt);
			else
				pr_warn("%s: unknown option or missing argument (see --help)",
					argv[optind - 1]);
			ret = -EINVAL;
			break;
		}
	}
	free(opts);
	flags[n_flags] = NULL;
	if (!ret && optind < argc) {
		pr_warn("unexpected argument '%s' (see --help)", argv[optind]);
		ret = -EINVAL;
	}
	return ret;
}
