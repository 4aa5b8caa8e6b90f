/* mlccount: a QEMU TCG plugin that counts the guest instructions executed between marker addresses.
 *
 * `mlc bench` loads it with -plugin libmlccount.so,config=FILE. FILE has one directive per line
 * (addresses are guest virtual addresses, Thumb bit cleared):
 *   out PATH          where the counts go, one line per measured run: "run TOTAL B0 B1 ... B(n-1)"
 *   buckets N         how many buckets a run has
 *   start ADDR        executing ADDR starts a run (in bucket 0) unless one is running
 *   stop LO HI        executing any address in [LO, HI) ends the run (that instruction is not counted)
 *   skip LO HI        instructions in [LO, HI) are never counted (e.g. a marker function)
 *   mark ADDR B       executing ADDR during a run switches to bucket B; it and what follows count there
 *   step ADDR         executing ADDR during a run moves to the next bucket; ADDR itself is not counted
 *                     (the entry of a marker function called between layers, whose body is a skip range)
 * Counting is exact: ordinary translation blocks add their instruction count in one callback, blocks
 * that hold any of the addresses above get a callback per instruction. QEMU takes interrupts only
 * between blocks, and the firmware keeps them masked while measuring, so every block runs whole. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlc_qemu_plugin.h"

MLC_QEMU_PLUGIN_EXPORT int qemu_plugin_version = MLC_QEMU_PLUGIN_API_VERSION;

#define MAX_RANGES 64
#define MAX_MARKS 4096
#define MAX_BUCKETS 4096

enum kind { K_PLAIN, K_SKIP, K_START, K_STOP, K_MARK, K_STEP };

struct range {
    uint64_t lo, hi;
};
struct mark {
    uint64_t addr;
    uint32_t bucket;
};

static struct range stops[MAX_RANGES], skips[MAX_RANGES];
static struct mark marks[MAX_MARKS];
static unsigned n_stops, n_skips, n_marks, n_buckets = 1;
static uint64_t start_addr = UINT64_MAX, step_addr = UINT64_MAX;
static char out_path[4096];
static FILE *out;

static int active;
static uint32_t current;
static uint64_t counts[MAX_BUCKETS];

static int in_ranges(const struct range *r, unsigned n, uint64_t a)
{
    for (unsigned i = 0; i < n; i++) {
        if (a >= r[i].lo && a < r[i].hi) return 1;
    }
    return 0;
}

/* An instruction's kind and bucket packed into the callback's user data. */
static uintptr_t classify(uint64_t a)
{
    if (a == start_addr) return K_START;
    if (in_ranges(stops, n_stops, a)) return K_STOP;
    if (a == step_addr) return K_STEP;
    if (in_ranges(skips, n_skips, a)) return K_SKIP;
    for (unsigned i = 0; i < n_marks; i++) {
        if (marks[i].addr == a) return K_MARK | ((uintptr_t)marks[i].bucket << 8);
    }
    return K_PLAIN;
}

static void end_run(void)
{
    uint64_t total = 0;
    for (unsigned b = 0; b < n_buckets; b++) total += counts[b];
    fprintf(out, "run %" PRIu64, total);
    for (unsigned b = 0; b < n_buckets; b++) fprintf(out, " %" PRIu64, counts[b]);
    fputc('\n', out);
    fflush(out);
    active = 0;
}

static void on_insn(unsigned int vcpu, void *udata)
{
    const uintptr_t code = (uintptr_t)udata;
    (void)vcpu;
    switch (code & 0xFF) {
    case K_START:
        if (!active) {
            active = 1;
            current = 0;
            memset(counts, 0, sizeof counts);
        }
        break;
    case K_STOP:
        if (active) end_run();
        return;
    case K_SKIP:
        return;
    case K_STEP:
        if (active && current + 1 < n_buckets) current++;
        return;
    case K_MARK:
        if (active) current = (uint32_t)(code >> 8);
        break;
    default:
        break;
    }
    if (active) counts[current]++;
}

static void on_block(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    if (active) counts[current] += (uintptr_t)udata;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    const size_t n = qemu_plugin_tb_n_insns(tb);
    size_t special = 0;
    (void)id;
    for (size_t i = 0; i < n; i++) {
        if (classify(qemu_plugin_insn_vaddr(qemu_plugin_tb_get_insn(tb, i))) != K_PLAIN) special++;
    }
    if (special == 0) {
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        const uintptr_t code = classify(qemu_plugin_insn_vaddr(insn));
        qemu_plugin_register_vcpu_insn_exec_cb(insn, on_insn, QEMU_PLUGIN_CB_NO_REGS, (void *)code);
    }
}

static void on_exit_cb(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    if (active) fprintf(out, "unfinished\n");
    fclose(out);
}

static int fail(const char *what, const char *detail)
{
    char msg[512];
    snprintf(msg, sizeof msg, "mlccount: %s%.400s\n", what, detail ? detail : "");
    qemu_plugin_outs(msg);
    return -1;
}

static int read_config(const char *path)
{
    char line[4200], word[16];
    FILE *f = fopen(path, "r");
    if (!f) return fail("cannot read the config file ", path);
    while (fgets(line, sizeof line, f)) {
        uint64_t a, b;
        if (sscanf(line, "%15s", word) != 1) continue;
        if (!strcmp(word, "out")) {
            if (sscanf(line, "out %4095[^\n]", out_path) != 1) out_path[0] = 0;
        } else if (!strcmp(word, "buckets") && sscanf(line, "buckets %" SCNu64, &a) == 1 && a >= 1 && a <= MAX_BUCKETS) {
            n_buckets = (unsigned)a;
        } else if (!strcmp(word, "start") && sscanf(line, "start %" SCNi64, &a) == 1) {
            start_addr = a;
        } else if (!strcmp(word, "step") && sscanf(line, "step %" SCNi64, &a) == 1) {
            step_addr = a;
        } else if (!strcmp(word, "stop") && n_stops < MAX_RANGES && sscanf(line, "stop %" SCNi64 " %" SCNi64, &a, &b) == 2) {
            stops[n_stops++] = (struct range){ a, b };
        } else if (!strcmp(word, "skip") && n_skips < MAX_RANGES && sscanf(line, "skip %" SCNi64 " %" SCNi64, &a, &b) == 2) {
            skips[n_skips++] = (struct range){ a, b };
        } else if (!strcmp(word, "mark") && n_marks < MAX_MARKS && sscanf(line, "mark %" SCNi64 " %" SCNu64, &a, &b) == 2 && b < MAX_BUCKETS) {
            marks[n_marks++] = (struct mark){ a, (uint32_t)b };
        } else {
            fclose(f);
            return fail("bad config line: ", line);
        }
    }
    fclose(f);
    for (unsigned i = 0; i < n_marks; i++) {
        if (marks[i].bucket >= n_buckets) return fail("a mark names a bucket beyond 'buckets'", NULL);
    }
    if (!out_path[0] || start_addr == UINT64_MAX || n_stops == 0) return fail("config needs out, start and stop", NULL);
    return 0;
}

MLC_QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    const char *config = NULL;
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "config=", 7)) config = argv[i] + 7;
    }
    if (!config) return fail("usage: -plugin libmlccount.so,config=FILE", NULL);
    if (read_config(config)) return -1;
    out = fopen(out_path, "w");
    if (!out) return fail("cannot write ", out_path);
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
    return 0;
}
