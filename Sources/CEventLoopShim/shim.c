#define _GNU_SOURCE
#include "CEventLoopShim.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

size_t tg_epoll_event_size(void) { return sizeof(struct epoll_event); }

uint32_t tg_epoll_event_events(const void *events, int index) {
    return ((const struct epoll_event *)events)[index].events;
}

uint64_t tg_epoll_event_token(const void *events, int index) {
    return ((const struct epoll_event *)events)[index].data.u64;
}

int tg_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int tg_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event event;
    memset(&event, 0, sizeof event);
    event.events = events;
    event.data.u64 = token;
    return epoll_ctl(epfd, op, fd, &event) < 0 ? -errno : 0;
}

int tg_epoll_wait(int epfd, void *events, int capacity, int timeout_ms) {
    int count = epoll_wait(epfd, (struct epoll_event *)events, capacity, timeout_ms);
    return count < 0 ? -errno : count;
}

uint32_t tg_epollin(void) { return EPOLLIN; }
uint32_t tg_epollout(void) { return EPOLLOUT; }
uint32_t tg_epollrdhup(void) { return EPOLLRDHUP; }
uint32_t tg_epollhup(void) { return EPOLLHUP; }
uint32_t tg_epollerr(void) { return EPOLLERR; }
uint32_t tg_epollet(void) { return (uint32_t)EPOLLET; }

static struct sockaddr_in ipv4(uint32_t address_be, uint16_t port) {
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = address_be;
    address.sin_port = htons(port);
    return address;
}

static int fail_closing(int fd) {
    int code = errno;
    close(fd);
    return -code;
}

int tg_listen_tcp4(uint32_t address_be, uint16_t port, int backlog, int reuse_port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0) return fail_closing(fd);
    if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0) return fail_closing(fd);
    struct sockaddr_in address = ipv4(address_be, port);
    if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0) return fail_closing(fd);
    if (listen(fd, backlog) < 0) return fail_closing(fd);
    return fd;
}

int tg_local_port(int fd) {
    struct sockaddr_in address;
    socklen_t length = sizeof address;
    if (getsockname(fd, (struct sockaddr *)&address, &length) < 0) return -errno;
    return ntohs(address.sin_port);
}

int tg_accept(int listener) {
    int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int tg_connect_tcp4(uint32_t address_be, uint16_t port, int *in_progress) {
    *in_progress = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct sockaddr_in address = ipv4(address_be, port);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0) {
        if (errno != EINPROGRESS) return fail_closing(fd);
        *in_progress = 1;
    }
    return fd;
}

int tg_socket_error(int fd) {
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0) return -errno;
    return error;
}

int tg_set_nodelay(int fd) {
    int on = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0 ? -errno : 0;
}

int tg_set_linger_zero(int fd) {
    struct linger linger = {.l_onoff = 1, .l_linger = 0};
    return setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, sizeof linger) < 0 ? -errno : 0;
}

int tg_eventfd(void) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int tg_eventfd_signal(int fd) {
    uint64_t one = 1;
    for (;;) {
        if (write(fd, &one, sizeof one) == sizeof one) return 0;
        if (errno == EINTR) continue;
        // EAGAIN: the counter is at its maximum, so the loop is woken anyway.
        return errno == EAGAIN ? 0 : -errno;
    }
}

int tg_eventfd_drain(int fd) {
    uint64_t value;
    for (;;) {
        if (read(fd, &value, sizeof value) == sizeof value) return 0;
        if (errno == EINTR) continue;
        return -errno;
    }
}

uint64_t tg_monotonic_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

void tg_set_thread_name(const char *name) {
    char short_name[16];
    strncpy(short_name, name, sizeof short_name - 1);
    short_name[sizeof short_name - 1] = 0;
    pthread_setname_np(pthread_self(), short_name);
}
