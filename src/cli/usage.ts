// Usage texts of the gavel subcommands, kept apart so `gavel --help` loads nothing heavy.

export const RUN_USAGE = `usage: gavel run [--time-ms N] [--wall-ms N] [--memory BYTES|64m] [--processes N]
                 [--output-bytes N] [--stdin FILE] [--stdout FILE] [--stderr FILE]
                 [--dir DIR] [--repeat N] -- COMMAND ARGS...`;

export const JUDGE_USAGE = `usage: gavel judge --language ID FILE --tests DIR [--checker exact|lines|tokens|float|program]
                   [--abs-error X] [--rel-error X] [--checker-file FILE --checker-language ID]
                   [--interactor FILE --interactor-language ID] [--time-ms N] [--wall-ms N]
                   [--memory 256m] [--output-bytes N] [--processes N] [--stop-on-first-failure] [--json]
       gavel judge --problem DIR [--language ID] SOURCE... [--time-ms N] [--memory 256m] ...
                   judges against a problem package directory (ICPC/Kattis format) and
                   prints the result as the API's JSON; the language defaults from the extension`;

export const VERIFY_USAGE = `usage: gavel verify DIR [--time-ms N] [--json]
                   judges every submission under DIR/submissions/<category>/ and checks it
                   against its category; exit 0 only when all agree`;
