/*
 * ecgpace: a test-only ALSA capture plugin (ioplug) that serves a raw interleaved file in real time.
 *
 * Used by Tests/VentriqStreamTests/Alsa*.swift to exercise AlsaCaptureSource without hardware:
 * the hardware pointer advances with CLOCK_MONOTONIC at the configured rate, so a reader that is
 * too slow overruns the ring (buffer size) exactly like a real capture device: the pointer
 * callback returns -EPIPE, ioplug puts the PCM in SND_PCM_STATE_XRUN and snd_pcm_readi returns
 * -EPIPE until snd_pcm_recover (prepare) and the next start.
 *
 * Time model: the signal runs in wall-clock time from the first start, like the electrodes of a
 * real device. After an overrun and a restart, the frames delivered are the ones "being captured
 * now", so the frames lost during the overrun are skipped, not replayed. Frame f of the signal is
 * frame f of the file; past the end of the file the plugin delivers silence (zeros) forever.
 *
 * Configuration (all but `file` optional):
 *   pcm_type.ecgpace { lib "<dir>/libasound_module_pcm_ecgpace.so" }
 *   pcm.paced {
 *       type ecgpace
 *       file "<raw interleaved little-endian file>"
 *       rate 500            # the only rate offered
 *       channels 8          # the only channel count offered
 *       format "S16_LE"     # the only format offered: S16_LE or S32_LE
 *       stall_at_ms 200     # optional: the clock stops at this signal time ...
 *       stall_ms 1000       # ... for this long (no new frames), then goes on; -1 = forever
 *   }
 *
 * Build: cc -shared -fPIC -DPIC -o libasound_module_pcm_ecgpace.so ecgpace.c -lasound
 */
#include <alsa/asoundlib.h>
#include <alsa/pcm_external.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    snd_pcm_ioplug_t io;
    unsigned char *data;      /* the whole file */
    uint64_t data_frames;     /* whole frames in the file */
    unsigned int rate;
    unsigned int channels;
    snd_pcm_format_t format;
    unsigned int frame_bytes;
    long long stall_at_ns;    /* -1: no stall */
    long long stall_ns;       /* -1: forever */
    int timer_fd;
    uint64_t origin_ns;       /* monotonic time of the first start; 0 = never started */
    uint64_t base_frame;      /* signal frame at the current start */
    int running;
} ecgpace_t;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Signal frames produced since the first start, at monotonic time `t`, with the stall applied. */
static uint64_t signal_frames(const ecgpace_t *p, uint64_t t) {
    if (p->origin_ns == 0 || t <= p->origin_ns)
        return 0;
    uint64_t elapsed = t - p->origin_ns;
    if (p->stall_at_ns >= 0 && elapsed > (uint64_t)p->stall_at_ns) {
        if (p->stall_ns < 0 || elapsed < (uint64_t)(p->stall_at_ns + p->stall_ns))
            elapsed = (uint64_t)p->stall_at_ns;
        else
            elapsed -= (uint64_t)p->stall_ns;
    }
    /* elapsed (ns) * rate / 1e9 without overflow for any test duration */
    return (uint64_t)(((unsigned __int128)elapsed * p->rate) / 1000000000u);
}

/* Frames produced since the current start. */
static uint64_t run_frames(const ecgpace_t *p) {
    if (!p->running)
        return 0;
    uint64_t total = signal_frames(p, now_ns());
    return total > p->base_frame ? total - p->base_frame : 0;
}

static int arm_timer(ecgpace_t *p, int on) {
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    if (on) {
        uint64_t period_ns = (uint64_t)p->io.period_size * 1000000000ull / p->rate;
        if (period_ns == 0)
            period_ns = 1000000;
        its.it_value.tv_sec = (time_t)(period_ns / 1000000000ull);
        its.it_value.tv_nsec = (long)(period_ns % 1000000000ull);
        its.it_interval = its.it_value;
    }
    return timerfd_settime(p->timer_fd, 0, &its, NULL) < 0 ? -errno : 0;
}

static int ecgpace_start(snd_pcm_ioplug_t *io) {
    ecgpace_t *p = io->private_data;
    uint64_t t = now_ns();
    if (p->origin_ns == 0)
        p->origin_ns = t;
    p->base_frame = signal_frames(p, t);
    p->running = 1;
    return arm_timer(p, 1);
}

static int ecgpace_stop(snd_pcm_ioplug_t *io) {
    ecgpace_t *p = io->private_data;
    p->running = 0;
    return arm_timer(p, 0);
}

static snd_pcm_sframes_t ecgpace_pointer(snd_pcm_ioplug_t *io) {
    ecgpace_t *p = io->private_data;
    uint64_t produced = run_frames(p);
    /* The ring holds buffer_size frames: more unread than that is an overrun. */
    if (produced > (uint64_t)io->appl_ptr + io->buffer_size)
        return -EPIPE;
    return (snd_pcm_sframes_t)produced; /* SND_PCM_IOPLUG_FLAG_BOUNDARY_WA: a running count */
}

static snd_pcm_sframes_t ecgpace_transfer(snd_pcm_ioplug_t *io, const snd_pcm_channel_area_t *areas,
                                          snd_pcm_uframes_t offset, snd_pcm_uframes_t size) {
    ecgpace_t *p = io->private_data;
    uint64_t first = p->base_frame + (uint64_t)io->appl_ptr; /* signal frame of the first frame */
    snd_pcm_uframes_t from_file = 0;
    if (first < p->data_frames) {
        uint64_t left = p->data_frames - first;
        from_file = left < size ? (snd_pcm_uframes_t)left : size;
    }
    unsigned int bits = p->frame_bytes * 8 / p->channels;
    if (from_file > 0) {
        snd_pcm_channel_area_t src[p->channels];
        for (unsigned int c = 0; c < p->channels; c++) {
            src[c].addr = p->data;
            src[c].first = c * bits;
            src[c].step = p->frame_bytes * 8;
        }
        int err = snd_pcm_areas_copy(areas, offset, src, (snd_pcm_uframes_t)first, p->channels,
                                     from_file, p->format);
        if (err < 0)
            return err;
    }
    if (from_file < size) {
        int err = snd_pcm_areas_silence(areas, offset + from_file, p->channels, size - from_file,
                                        p->format);
        if (err < 0)
            return err;
    }
    return (snd_pcm_sframes_t)size;
}

static int ecgpace_prepare(snd_pcm_ioplug_t *io) {
    ecgpace_t *p = io->private_data;
    p->running = 0;
    return arm_timer(p, 0);
}

static int ecgpace_poll_revents(snd_pcm_ioplug_t *io, struct pollfd *pfd, unsigned int nfds,
                                unsigned short *revents) {
    ecgpace_t *p = io->private_data;
    uint64_t expirations;
    (void)nfds;
    (void)pfd;
    while (read(p->timer_fd, &expirations, sizeof(expirations)) > 0) {
    }
    uint64_t produced = run_frames(p);
    unsigned short ev = 0;
    if (io->state == SND_PCM_STATE_XRUN || produced > (uint64_t)io->appl_ptr)
        ev = POLLIN;
    *revents = ev;
    return 0;
}

static int ecgpace_close(snd_pcm_ioplug_t *io) {
    ecgpace_t *p = io->private_data;
    if (p->timer_fd >= 0)
        close(p->timer_fd);
    free(p->data);
    free(p);
    return 0;
}

static const snd_pcm_ioplug_callback_t ecgpace_callback = {
    .start = ecgpace_start,
    .stop = ecgpace_stop,
    .pointer = ecgpace_pointer,
    .transfer = ecgpace_transfer,
    .prepare = ecgpace_prepare,
    .poll_revents = ecgpace_poll_revents,
    .close = ecgpace_close,
};

static int load_file(ecgpace_t *p, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        SNDERR("ecgpace: cannot open %s", path);
        return -errno;
    }
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return -ENOMEM;
    }
    for (;;) {
        if (len == cap) {
            unsigned char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                fclose(f);
                return -ENOMEM;
            }
            buf = grown;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        if (n == 0)
            break;
        len += n;
    }
    fclose(f);
    p->data = buf;
    p->data_frames = len / p->frame_bytes;
    return 0;
}

SND_PCM_PLUGIN_DEFINE_FUNC(ecgpace) {
    snd_config_iterator_t i, next;
    const char *file = NULL;
    long rate = 500, channels = 8, stall_at_ms = -1, stall_ms = 0;
    snd_pcm_format_t format = SND_PCM_FORMAT_S16_LE;
    int err;
    (void)root;

    snd_config_for_each(i, next, conf) {
        snd_config_t *n = snd_config_iterator_entry(i);
        const char *id;
        if (snd_config_get_id(n, &id) < 0)
            continue;
        if (strcmp(id, "comment") == 0 || strcmp(id, "type") == 0 || strcmp(id, "hint") == 0)
            continue;
        if (strcmp(id, "file") == 0) {
            if (snd_config_get_string(n, &file) < 0) {
                SNDERR("ecgpace: file must be a string");
                return -EINVAL;
            }
        } else if (strcmp(id, "rate") == 0) {
            if (snd_config_get_integer(n, &rate) < 0 || rate <= 0)
                return -EINVAL;
        } else if (strcmp(id, "channels") == 0) {
            if (snd_config_get_integer(n, &channels) < 0 || channels <= 0)
                return -EINVAL;
        } else if (strcmp(id, "stall_at_ms") == 0) {
            if (snd_config_get_integer(n, &stall_at_ms) < 0)
                return -EINVAL;
        } else if (strcmp(id, "stall_ms") == 0) {
            if (snd_config_get_integer(n, &stall_ms) < 0)
                return -EINVAL;
        } else if (strcmp(id, "format") == 0) {
            const char *s;
            if (snd_config_get_string(n, &s) < 0)
                return -EINVAL;
            format = snd_pcm_format_value(s);
            if (format != SND_PCM_FORMAT_S16_LE && format != SND_PCM_FORMAT_S32_LE) {
                SNDERR("ecgpace: format must be S16_LE or S32_LE, not %s", s);
                return -EINVAL;
            }
        } else {
            SNDERR("ecgpace: unknown field %s", id);
            return -EINVAL;
        }
    }
    if (!file) {
        SNDERR("ecgpace: no file");
        return -EINVAL;
    }
    if (stream != SND_PCM_STREAM_CAPTURE) {
        SNDERR("ecgpace: capture only");
        return -EINVAL;
    }

    ecgpace_t *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->rate = (unsigned int)rate;
    p->channels = (unsigned int)channels;
    p->format = format;
    p->frame_bytes = (unsigned int)(snd_pcm_format_physical_width(format) / 8) * p->channels;
    p->stall_at_ns = stall_at_ms < 0 ? -1 : stall_at_ms * 1000000ll;
    p->stall_ns = stall_ms < 0 ? -1 : stall_ms * 1000000ll;
    p->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (p->timer_fd < 0) {
        err = -errno;
        free(p);
        return err;
    }
    err = load_file(p, file);
    if (err < 0) {
        close(p->timer_fd);
        free(p);
        return err;
    }

    p->io.version = SND_PCM_IOPLUG_VERSION;
    p->io.name = "ecgpace (test-only real-time file capture)";
    p->io.flags = SND_PCM_IOPLUG_FLAG_BOUNDARY_WA | SND_PCM_IOPLUG_FLAG_MONOTONIC;
    p->io.poll_fd = p->timer_fd;
    p->io.poll_events = POLLIN;
    p->io.mmap_rw = 0;
    p->io.callback = &ecgpace_callback;
    p->io.private_data = p;

    err = snd_pcm_ioplug_create(&p->io, name, stream, mode);
    if (err < 0) {
        close(p->timer_fd);
        free(p->data);
        free(p);
        return err;
    }

    static const unsigned int access_list[] = {SND_PCM_ACCESS_RW_INTERLEAVED};
    unsigned int format_list[] = {(unsigned int)format};
    if ((err = snd_pcm_ioplug_set_param_list(&p->io, SND_PCM_IOPLUG_HW_ACCESS, 1, access_list)) < 0 ||
        (err = snd_pcm_ioplug_set_param_list(&p->io, SND_PCM_IOPLUG_HW_FORMAT, 1, format_list)) < 0 ||
        (err = snd_pcm_ioplug_set_param_minmax(&p->io, SND_PCM_IOPLUG_HW_CHANNELS, p->channels,
                                               p->channels)) < 0 ||
        (err = snd_pcm_ioplug_set_param_minmax(&p->io, SND_PCM_IOPLUG_HW_RATE, p->rate, p->rate)) < 0 ||
        (err = snd_pcm_ioplug_set_param_minmax(&p->io, SND_PCM_IOPLUG_HW_PERIOD_BYTES, p->frame_bytes,
                                               1u << 20)) < 0 ||
        (err = snd_pcm_ioplug_set_param_minmax(&p->io, SND_PCM_IOPLUG_HW_BUFFER_BYTES,
                                               2 * p->frame_bytes, 1u << 22)) < 0 ||
        (err = snd_pcm_ioplug_set_param_minmax(&p->io, SND_PCM_IOPLUG_HW_PERIODS, 2, 1024)) < 0) {
        snd_pcm_ioplug_delete(&p->io); /* calls ecgpace_close */
        return err;
    }

    *pcmp = p->io.pcm;
    return 0;
}

SND_PCM_PLUGIN_SYMBOL(ecgpace);
