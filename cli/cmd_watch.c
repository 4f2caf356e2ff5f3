/* cli/cmd_watch.c -- `ragd watch DIR --kb KB`: catch up, then apply every
** change of the folder tree to the KB until SIGTERM/SIGINT, printing one
** line per applied change. SIGTERM/SIGINT write a byte to a pipe whose
** read end the watcher polls (its stop_fd), so a stop finishes the current
** document and saves the derived data before exit 0.
** Why a handler and not a signalfd: a signalfd needs the signals blocked in
** every thread, and OpenBLAS starts its threads when the library loads,
** before main, with the default mask: a SIGTERM routed to one of them
** would kill the process. */
#include "cli/cli_watch.h"

#include "ingest/ing_watch.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

/* The write end of the stop pipe: the one mutable global, because a signal
** handler can reach nothing else. Set before the handler is installed. */
static volatile sig_atomic_t stop_pipe_w = -1;

static void on_stop_signal(int sig) {
  (void)sig;
  int saved = errno;
  ssize_t r = write(stop_pipe_w, "x", 1);
  (void)r; /* a full pipe is already readable */
  errno = saved;
}

typedef struct wui {
  int json;
} wui;

static const char *what_name(ing_outcome w) {
  switch (w) {
  case ING_ADDED:
    return "added";
  case ING_REPLACED:
    return "updated";
  case ING_UNCHANGED:
    return "unchanged";
  case ING_SKIPPED:
    return "failed";
  case ING_REMOVED:
    return "removed";
  case ING_RENAMED:
    return "renamed";
  }
  return "?";
}

static void on_event(void *ctx, const ing_event *ev) {
  wui *u = ctx;
  if (ev->what == ING_UNCHANGED)
    return;
  if (u->json) {
    printf("{\"event\":\"%s\",\"source\":", what_name(ev->what));
    cli_json_str(stdout, ev->source);
    if (ev->target) {
      printf(",\"target\":");
      cli_json_str(stdout, ev->target);
    }
    if (ev->what == ING_SKIPPED) {
      printf(",\"error\":");
      cli_json_str(stdout, ev->msg ? ev->msg : rag_status_str(ev->code));
    } else {
      printf(",\"count\":%lld", (long long)ev->count);
    }
    printf("}\n");
  } else if (ev->what == ING_RENAMED) {
    printf("renamed %s -> %s (%lld document(s))\n", ev->source, ev->target,
           (long long)ev->count);
  } else if (ev->what == ING_SKIPPED) {
    printf("failed %s: %s\n", ev->source,
           ev->msg ? ev->msg : rag_status_str(ev->code));
  } else {
    printf("%s %s (%lld chunks)\n", what_name(ev->what), ev->source,
           (long long)ev->count);
  }
  fflush(stdout);
}

static const char watch_help[] =
    "usage: ragd watch DIR --kb KB [--json] [--once] [--debounce-ms N]\n"
    "                  [--ignore PATTERN]... [--no-default-ignore]\n"
    "                  [--embedder SPEC] [--index FACTORY]\n"
    "Keeps the knowledge base KB in step with the folder tree DIR: files\n"
    "created, modified, renamed, moved and deleted; new subfolders too. At\n"
    "start it catches up with changes made while no watcher ran. Prints one\n"
    "line per applied change. SIGTERM/SIGINT stop it cleanly.\n"
    "  --json               one JSON object per change\n"
    "  --once               catch up, run the queued jobs, then exit\n"
    "  --debounce-ms N      quiet time per file before indexing (200)\n"
    "  --ignore PATTERN     also ignore PATTERN (fnmatch; 'dir/' = folders)\n"
    "  --no-default-ignore  do not ignore dotfiles, *~, *.swp, *.tmp, .git/\n";

int cmd_watch(int argc, char **argv, const cli_env *env) {
  static const struct option opts[] = {
      {"kb", required_argument, 0, 'k'},
      {"json", no_argument, 0, 'j'},
      {"once", no_argument, 0, 'o'},
      {"debounce-ms", required_argument, 0, 'd'},
      {"ignore", required_argument, 0, 'i'},
      {"no-default-ignore", no_argument, 0, 'n'},
      {"embedder", required_argument, 0, 'e'},
      {"index", required_argument, 0, 'x'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  const char *kbdir = NULL;
  ing_kb_opts ko = ing_kb_opts_default();
  ing_watch_opts wo = ing_watch_opts_default();
  const char **ign = calloc((size_t)argc + 1, sizeof(char *));
  size_t nign = 0;
  int once = 0, c;
  wui u = {0};
  if (!ign)
    return 1;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    int64_t v = 0;
    switch (c) {
    case 'k':
      kbdir = optarg;
      break;
    case 'j':
      u.json = 1;
      break;
    case 'o':
      once = 1;
      break;
    case 'd':
      if (rag_parse_i64(optarg, &v) || v < 0 || v > 600000) {
        free(ign);
        return cli_usage("watch", "--debounce-ms: 0..600000");
      }
      wo.debounce_ms = (int)v;
      break;
    case 'i':
      ign[nign++] = optarg;
      break;
    case 'n':
      wo.default_ignore = 0;
      break;
    case 'e':
      ko.emb_spec = optarg;
      break;
    case 'x':
      ko.factory = optarg;
      break;
    case 'h':
      free(ign);
      fputs(watch_help, stdout);
      return 0;
    default:
      free(ign);
      return cli_usage("watch", "bad option");
    }
  }
  if (!kbdir || optind != argc - 1) {
    free(ign);
    return cli_usage("watch", "DIR and --kb KB are required");
  }
  const char *dir = argv[optind];
  wo.ignore = ign;
  wo.nignore = nign;
  wo.on_event = on_event;
  wo.ctx = &u;

  int pfd[2] = {-1, -1};
  if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) == 0) {
    stop_pipe_w = pfd[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    wo.stop_fd = pfd[0];
  }

  rag_err err;
  rag_err_clear(&err);
  ing_kb *k = NULL;
  ing_watch *w = NULL;
  int status = 0;
  if (ing_kb_open(env->cfg, kbdir, &ko, &k, &err)) {
    status = cli_fail(kbdir, &err);
  } else if (ing_watch_open(k, dir, &wo, &w, &err)) {
    status = cli_fail(dir, &err);
  } else {
    fprintf(stderr, "ragd: watching %s -> %s\n", dir, kbdir);
    rag_status rc = RAG_OK;
    if (once) {
      int idle = 0;
      while (!rc && !idle)
        rc = ing_watch_step(w, 50, &idle, &err);
    } else {
      rc = ing_watch_run(w, &err);
    }
    if (rc)
      status = cli_fail("watch", &err);
  }
  ing_watch_close(w);
  ing_kb_close(k);
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  stop_pipe_w = -1;
  for (int i = 0; i < 2; i++)
    if (pfd[i] >= 0)
      close(pfd[i]);
  free(ign);
  return status;
}
