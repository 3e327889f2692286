/* tlsrptd: SMTP TLS Reporting (RFC 8460) collector. Dispatches to the subcommands. */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "collector/cmd.h"

int
main(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (sub == NULL) {
		cmd_usage(stderr);
		return EX_USAGE;
	}
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
		cmd_usage(stdout);
		return 0;
	}
	if (strcmp(sub, "--version") == 0 || strcmp(sub, "-V") == 0) {
		printf("tlsrptd %s\n", TLSRPTD_VERSION);
		return 0;
	}
	if (strcmp(sub, "serve") == 0)
		return cmd_serve(argc - 2, argv + 2);
	if (strcmp(sub, "ingest") == 0)
		return cmd_ingest(argc - 2, argv + 2);
	if (strcmp(sub, "check") == 0)
		return cmd_check(argc - 2, argv + 2);
	if (strcmp(sub, "config") == 0)
		return cmd_config(argc - 2, argv + 2);
	if (strcmp(sub, "import") == 0)
		return cmd_import(argc - 2, argv + 2);
	if (strcmp(sub, "token") == 0)
		return cmd_token(argc - 2, argv + 2);
	if (strcmp(sub, "export") == 0)
		return cmd_export(argc - 2, argv + 2);
	if (strcmp(sub, "quarantine") == 0)
		return cmd_quarantine(argc - 2, argv + 2);
	fprintf(stderr, "tlsrptd: unknown command '%s'\n", sub);
	cmd_usage(stderr);
	return EX_USAGE;
}
