--- The `zuora` command: argument parsing and dispatch to the subcommands in lua/zuora/cli/.
-- `run(argv, env)` returns the exit status (zuora.cli.exit: 0 success, 1-5 by kind of failure,
-- 130 interrupted); bin/zuora exits with it.
local argparse = require "argparse"
local context = require "zuora.cli.context"
local exit = require "zuora.cli.exit"

local M = {}

local DESCRIPTION = [[
A terminal for Zuora: a REPL that teaches the API, one-shot calls, catalogue search, ZOQL
queries, Data Query jobs and exports, and a local Zuora (zuora-sim) to try it all offline.
Without a command, `zuora` starts the REPL.]]

local EPILOG = [[
Configuration, later layers winning:
  1. a profile of $XDG_CONFIG_HOME/zuora/config.lua (default ~/.config/zuora/config.lua):
     --profile NAME, else $ZUORA_PROFILE, else the file's `default`;
  2. ZUORA_* variables (ZUORA_BASE_URL or ZUORA_ENVIRONMENT, ZUORA_CLIENT_ID and
     ZUORA_CLIENT_SECRET, ZUORA_USERNAME/ZUORA_PASSWORD, ZUORA_TOKEN, ZUORA_VERSION,
     ZUORA_TIMEOUT, ...), ignored when --profile is given;
  3. --env, --base-url, --zuora-version, --sim.
Credentials and endpoint go as a whole: a layer that sets any credential replaces all of them.

Examples:
  zuora --sim                                   REPL against a fresh local simulator
  zuora ops invoice pdf                         search the catalogue
  zuora call accounts.retrieve A00000001        one call, JSON on stdout
  zuora call accounts.create --data @acct.json  POST a body from a file
  zuora query "select Id, Name from Account where Status = ?" Active --format csv
  zuora export invoices --account A00000001 --since 2024-01-01 --output inv.csv --format csv
  zuora data-query "SELECT id, name FROM account" --output accounts.csv
  zuora sync --objects Account,Invoice,Payment --to sqlite:billing.db
  zuora sim --port 8080                         run zuora-sim in the foreground

Exit status: 0 success; 1 usage or local error; 2 authentication; 3 API client error (4xx,
`success: false`); 4 server, transport or timeout; 5 refused by policy (--read-only, deny, a
declined confirmation); 130 interrupted. See docs/cli.md for everything.]]

--- Builds the argument parser.
function M.parser()
  local p = argparse("zuora")
    :description(DESCRIPTION)
    :epilog(EPILOG)
    :require_command(false)
    :command_target("command")
    :help_max_width(100)
  p:option("--profile", "Use this profile from the configuration file (ZUORA_* variables are then ignored).")
    :argname("<name>")
  p:option("--env", "Zuora environment, e.g. us-cloud2-sandbox, eu-production.")
    :argname("<name>")
  p:option("--base-url", "REST base URL (https, or http on loopback).")
    :argname("<url>")
  p:option("--zuora-version", "The zuora-version header for every call.")
    :argname("<version>")
  p:flag("--sim", "Start zuora-sim for this command and point at it (stopped at exit).")
  p:flag("--trace", "Print each request and response line (method, URL, status, time, request id) on stderr.")
  p:flag("-q --quiet", "No progress, no notes on stderr; errors only.")
  p:flag("--progress", "Show progress even when stderr is not a terminal.")
  p:flag("--read-only", "Refuse every call that can change data (reads, queries and previews still run).")
  p:flag("-y --yes", "Do not ask before a write to production (needed for writes to production without a terminal).")
  p:flag("--version", "Print the lua-zuora version and exit.")
    :action(function()
      io.stdout:write("zuora (lua-zuora) ", require("zuora").version, "\n")
      os.exit(0)
    end)

  p:command("repl", "A Lua prompt with `client`, `zuora`, `json` and help() ready (the default).")

  local call = p:command("call"):summary("Call one operation; its JSON goes to stdout.")
  call:description("Call one catalogue operation (group.op, see `zuora ops`) with its path arguments in order, "
    .. "or any endpoint as `call METHOD /path`. The answer is printed as indented JSON.")
  call:argument("target", "group.operation (e.g. accounts.retrieve), or an HTTP method.")
  call:argument("args", "Path parameters in path order (or the path after a method).")
    :args("*")
  call:option("-d --data", "JSON body (POST/PUT/PATCH) or query object (GET/DELETE); @file reads a file, @- stdin.")
    :argname("<json>")
  call:option("--query", "A query parameter; repeat for more (a repeated key sends several values).")
    :argname("<k=v>"):count("*")
  call:option("-H --header", "An extra header; repeatable.")
    :argname("<'Name: value'>"):count("*")
  call:option("--idempotency-key", "Idempotency-Key for a POST/PATCH (default: a fresh UUID).")
    :argname("<key>")
  call:option("-o --output", "Stream the answer's body into this file (PDFs, files).")
    :argname("<file>")
  call:flag("--raw", "Print the body exactly as received instead of re-indented JSON.")
  call:flag("--dry-run", "Print the exact request (credentials masked) and send nothing.")

  local ops = p:command("ops"):summary("Search the operation catalogue.")
  ops:description("List catalogue operations whose group.name, method, path or title contain every word of the "
    .. "pattern (any case). An exact group.op shows that operation in detail; a group name lists the group.")
  ops:argument("pattern", "Words to look for."):args("*")

  local query = p:command("query", "Run a ZOQL query through query/queryMore; records stream to stdout.")
  query:argument("zoql", "The statement; ? placeholders are bound from the values that follow.")
  query:argument("values", "Values for the ? placeholders (bound as quoted strings)."):args("*")
  query:option("-f --format", "json (an array, one record a line), jsonl or csv; default: from the --output "
    .. "file's extension (.csv, .jsonl), else json."):argname("<format>")
    :choices({ "json", "jsonl", "csv" })
  query:option("-o --output", "Write to this file instead of stdout."):argname("<file>")

  local dq = p:command("data-query", "Run a Data Query (SQL) job and save or print its result file.")
  dq:argument("sql", "The SQL statement.")
  dq:option("-f --format", "Result file format: csv, tsv or json (JSON lines); default: from the --output "
    .. "file's extension, else csv."):argname("<format>")
    :choices({ "csv", "tsv", "json" })
  dq:option("-o --output", "Save the result file here (default: print it)."):argname("<file>")
  dq:option("--timeout", "Give up waiting for the job after this many seconds."):argname("<seconds>")
    :convert(tonumber)

  local export = p:command("export"):summary("Export records of a common object (a ZOQL query with defaults).")
  export:description("Shortcut for the queries people type most: " .. table.concat(
    require("zuora.cli.query").export_names(), ", ") .. ". See docs/cli.md for each object's fields.")
  export:argument("object", "What to export.")
  export:option("-a --account", "Only this account's records (account number or id)."):argname("<key>")
  export:option("--since", "Only records dated on or after this day (YYYY-MM-DD)."):argname("<date>")
  export:option("--where", "An extra ZOQL condition, ANDed with the others."):argname("<condition>")
  export:option("--fields", "Comma-separated fields instead of the defaults."):argname("<list>")
  export:option("-f --format", "json, jsonl or csv; default: from the --output file's extension, else json.")
    :argname("<format>"):choices({ "json", "jsonl", "csv" })
  export:option("-o --output", "Write to this file instead of stdout."):argname("<file>")
  export:flag("--csv-safe", "CSV: put ' before cells starting with = + - @ tab or CR, so spreadsheets show "
    .. "them as text instead of running them as formulas (the default).")
  export:flag("--no-csv-safe", "CSV: write every cell exactly as Zuora holds it.")

  local sy = p:command("sync", "Keep a copy of Zuora objects up to date in files or a database (Data Query, "
    .. "UpdatedDate windows, resumable).")
  sy:option("--objects", "Comma-separated objects (Data Query tables), e.g. Account,Invoice,Payment.")
    :argname("<list>")
  sy:option("--to", "Destination: dir:PATH, sqlite:PATH or postgresql://user@host/db."):argname("<dest>")
  sy:option("--state", "Keep the bookmarks in this JSON file instead of the destination."):argname("<file>")
  sy:option("--format", "Files destination: jsonl (default) or csv.")
  sy:option("--deletions", "apply (delete the rows; default) or flag (keep them with deleted = true).")
  sy:option("--window", "Seconds of UpdatedDate per window to start with (default 86400).")
  sy:option("--max-window", "Seconds windows may grow to (default 366 days)."):argname("<s>")
  sy:option("--start", "Where an object never synced starts (YYYY-MM-DD[ HH:MM:SS], default 2000-01-01).")
  sy:option("--until", "Sync up to this time (UTC) instead of now."):argname("<time>")
  sy:option("--lag", "Stop this many seconds before now (rows still being written).")
  sy:option("--in-flight", "Windows of one object fetched at once (default 2)."):argname("<n>")
  sy:option("--job-timeout", "Seconds a Data Query job may take before its window is halved."):argname("<s>")
  sy:option("--max-windows", "Stop after this many windows per object."):argname("<n>")
  sy:flag("--status", "Show the bookmarks and the lag; fetch nothing.")
  sy:flag("--verify", "After syncing, compare per window the rows in Zuora with the destination's.")
  sy:flag("--json", "Print the summary (or the status) as JSON on stdout.")

  local run = p:command("run", "Run a Lua script with `client`, `zuora`, `json` and the groups ready, as in the REPL.")
  run:argument("script", "The script file (- reads stdin).")
  run:argument("args", "Arguments for the script (in `arg`, and as `...`)."):args("*")

  p:command("budget", "Show the shared budget: requests in flight and waiting, limits seen, 429s (profile's shared).")

  local sim = p:command("sim", "Run zuora-sim in the foreground (all zuora-sim options; --help lists them).")
  sim:handle_options(false)
  sim:argument("args", "Options for zuora-sim, e.g. --port 8080."):args("*")
  return p
end

local function dispatch(ctx, a)
  local cmd = a.command or "repl"
  if cmd == "repl" then return require("zuora.cli.repl").run(ctx) end
  if cmd == "run" then return require("zuora.cli.repl").run_script(ctx, a.script, a.args) end
  if cmd == "call" then return require("zuora.cli.call").run(ctx, a) end
  if cmd == "ops" then return require("zuora.cli.ops").run(ctx, a) end
  if cmd == "query" then return require("zuora.cli.query").query(ctx, a) end
  if cmd == "data-query" then return require("zuora.cli.query").data_query(ctx, a) end
  if cmd == "export" then return require("zuora.cli.query").export(ctx, a) end
  if cmd == "sync" then return require("zuora.cli.sync").run(ctx, a) end
  if cmd == "sim" then return require("zuora.cli.sim").run(ctx.bindir, a.args) end
  if cmd == "budget" then
    local client, err = ctx:client()
    if not client then ctx:fail(err); return require("zuora.cli.exit").LOCAL end
    local b, berr = client:budget()
    if not b then ctx:fail("shared budget: " .. tostring(berr)); return require("zuora.cli.exit").SERVER end
    io.stdout:write(require("zuora.core").json.encode(b, { sort_keys = true, indent = "  " }), "\n")
    return 0
  end
  ctx:fail("unknown command " .. tostring(cmd))
  return 1
end

--- Runs the command line `argv` (arg-style array); returns the exit status.
function M.run(argv, env)
  local args = {}
  for i = 1, #(argv or {}) do args[i] = argv[i] end
  local a = M.parser():parse(args)
  local ctx = context.new(a, env, args)
  -- Ctrl-C stops a call at once (not when it returns) and never takes the default action while
  -- the program can still see it (core.interrupt); "interrupted!" then ends the command below.
  local interrupt = require("zuora.core").interrupt
  if interrupt then interrupt.catch() end
  local ok, status = xpcall(dispatch, debug.traceback, ctx, a)
  local closed, cerr = pcall(ctx.close, ctx)
  if not ok or not closed then
    local msg = tostring(ok and cerr or status)
    if msg:find("interrupted!", 1, true) then
      io.stderr:write("\nzuora: interrupted\n")
      return exit.INTERRUPTED
    end
    io.stderr:write("zuora: internal error: ", msg, "\n")
    return exit.LOCAL
  end
  if type(status) == "number" and status % 1 == 0 and status >= 0 and status <= 255 then return status end
  return status == true and exit.OK or exit.LOCAL
end

return M
