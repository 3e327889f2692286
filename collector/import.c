/* tlsrptd import maildir DIR | mbox FILE: placeholder until the mailbox importer lands. */
#include <stdio.h>
#include <sysexits.h>

#include "collector/cmd.h"

int
cmd_import(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "tlsrptd import: not implemented yet\n");
	return EX_UNAVAILABLE;
}
