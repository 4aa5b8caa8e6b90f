/* mlc's simavr harness: runs an AVR ELF with UART0 as raw bytes on a TCP socket (or stdin/stdout).
 *
 *   mlc_simavr --mcu atmega328p --freq 16000000 [--tcp PORT] firmware.elf
 *
 * With --tcp it prints "waiting for connection" on stderr, then holds the AVR until a client connects (as
 * QEMU's wait=on does) and pauses it again while no client is connected, so no output is lost. Input bytes
 * are handed to the UART only while simavr signals XON (its receive FIFO has room). The AVR is held to real
 * time (simavr alone runs faster), so millis() and the baud rate mean what they do on a real board. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "avr_uart.h"
#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_irq.h"

#define INSTRUCTIONS_PER_POLL 2000 /* between checks of the host side, cheap against a select() call */
#define INPUT_BUFFER_BYTES 4096
#define AHEAD_LIMIT_NS 2000000ll /* sleep once the AVR is this far ahead of the wall clock */

static int server_fd = -1;
static int out_fd = STDOUT_FILENO; /* the connected client, or stdout */
static int in_fd = STDIN_FILENO;
static int uart_xon = 1;
static uint8_t pending[INPUT_BUFFER_BYTES];
static size_t pending_head, pending_fill;
static int stdin_open = 1;
static int clock_resync = 1; /* restart real-time pacing (at start and after a pause without client) */

static void accept_client(void)
{
    fprintf(stderr, "mlc-simavr: waiting for connection on tcp:127.0.0.1\n");
    int fd;
    do {
        fd = accept(server_fd, NULL, NULL);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        perror("mlc-simavr: accept");
        exit(1);
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    out_fd = in_fd = fd;
    pending_head = pending_fill = 0;
    clock_resync = 1;
}

static void drop_client(void)
{
    close(in_fd);
    accept_client();
}

static void uart_output(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    const uint8_t byte = (uint8_t)value;
    if (write(out_fd, &byte, 1) != 1 && server_fd >= 0) drop_client();
}

static void uart_xon_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)value;
    (void)param;
    uart_xon = 1;
}

static void uart_xoff_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)value;
    (void)param;
    uart_xon = 0;
}

/* Read what the host sent (never blocking) and feed the UART while it has room. */
static int poll_host(avr_irq_t *uart_input)
{
    if (pending_head == pending_fill && stdin_open) {
        fd_set readable;
        struct timeval now = { 0, 0 };
        FD_ZERO(&readable);
        FD_SET(in_fd, &readable);
        if (select(in_fd + 1, &readable, NULL, NULL, &now) > 0) {
            const ssize_t n = read(in_fd, pending, sizeof pending);
            if (n <= 0) {
                if (server_fd < 0) {
                    stdin_open = 0; /* nothing more to send: keep running, output only */
                    return 1;
                }
                drop_client();
                return 1;
            }
            pending_head = 0;
            pending_fill = (size_t)n;
        }
    }
    while (uart_xon && pending_head < pending_fill) avr_raise_irq(uart_input, pending[pending_head++]);
    return 1;
}

/* simavr's messages go to stderr, below warnings not at all: stdout may be the UART. */
static void log_to_stderr(avr_t *avr, const int level, const char *format, va_list args)
{
    (void)avr;
    if (level <= LOG_WARNING) vfprintf(stderr, format, args);
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* Sleep while simulated time (cycles / frequency) is ahead of the wall clock since start. */
static void hold_to_real_time(const avr_t *avr, long long start_ns, avr_cycle_count_t start_cycle)
{
    const long long sim_ns = (long long)((double)(avr->cycle - start_cycle) * 1e9 / (double)avr->frequency);
    const long long ahead = sim_ns - (now_ns() - start_ns);
    if (ahead > AHEAD_LIMIT_NS) {
        const struct timespec nap = { (time_t)(ahead / 1000000000ll), (long)(ahead % 1000000000ll) };
        nanosleep(&nap, NULL);
    }
}

static int listen_on(int port)
{
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr = { .s_addr = htonl(INADDR_LOOPBACK) } };
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 1) < 0) {
        perror("mlc-simavr: cannot listen");
        exit(1);
    }
    return fd;
}

int main(int argc, char **argv)
{
    const char *mcu = "atmega328p", *elf = NULL;
    unsigned long freq = 16000000ul;
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mcu") && i + 1 < argc) mcu = argv[++i];
        else if (!strcmp(argv[i], "--freq") && i + 1 < argc) freq = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--tcp") && i + 1 < argc) port = atoi(argv[++i]);
        else elf = argv[i];
    }
    if (!elf) {
        fprintf(stderr, "usage: %s [--mcu MCU] [--freq HZ] [--tcp PORT] firmware.elf\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    avr_global_logger_set(log_to_stderr);

    elf_firmware_t firmware;
    memset(&firmware, 0, sizeof firmware);
    if (elf_read_firmware(elf, &firmware) != 0) {
        fprintf(stderr, "mlc-simavr: cannot read %s\n", elf);
        return 1;
    }
    snprintf(firmware.mmcu, sizeof firmware.mmcu, "%s", mcu);
    firmware.frequency = (uint32_t)freq;
    avr_t *avr = avr_make_mcu_by_name(mcu);
    if (!avr) {
        fprintf(stderr, "mlc-simavr: unknown MCU %s\n", mcu);
        return 1;
    }
    avr_init(avr);
    avr_load_firmware(avr, &firmware);

    uint32_t flags = 0;
    avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~(uint32_t)(AVR_UART_FLAG_POLL_SLEEP | AVR_UART_FLAG_STDIO); /* raw bytes, no 170 ms naps */
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), uart_output, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON), uart_xon_hook, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF), uart_xoff_hook, NULL);
    avr_irq_t *uart_input = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);

    if (port) {
        server_fd = listen_on(port);
        accept_client();
    }
    long long start_ns = 0;
    avr_cycle_count_t start_cycle = 0;
    for (;;) {
        if (clock_resync) {
            start_ns = now_ns();
            start_cycle = avr->cycle;
            clock_resync = 0;
        }
        for (int i = 0; i < INSTRUCTIONS_PER_POLL; i++) {
            const int state = avr_run(avr);
            if (state == cpu_Done || state == cpu_Crashed) {
                fprintf(stderr, "mlc-simavr: the AVR %s\n", state == cpu_Done ? "stopped" : "crashed");
                return state == cpu_Done ? 0 : 1;
            }
        }
        if (!poll_host(uart_input)) return 0;
        hold_to_real_time(avr, start_ns, start_cycle);
    }
}
