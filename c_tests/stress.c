/*
 * Concurrency stress test: NTHREADS threads x many random operations on SHARED dicts,
 * tuples and images, while "generations" of dicts (and an image) are cleared with
 * clear_handle under the readers' feet. Checked: no crash, no deadlock (watchdog); every
 * stored value is self-checking (tuples [x, 7x+3, "v<x>", x/4.0]; uniform byte images whose
 * pixel p fixes the size (8 + p%8) x (4 + p%5)), so a torn value is detected; keys nobody
 * sets give exactly 2894; an operation on a generation whose clear_handle returned before
 * the operation gives exactly 2454, and 2454 never comes before that clear started
 * (dict_result); extern images' ClearProc runs once per image (and may call dlopt); no
 * leaks (ASan / valgrind runs of tests/c_tests.rs).
 *
 * Thread-safety rules of dlopt.h followed: shared Htuples are only read by workers; a
 * worker destroys only tuples it made; the published generation is copied (copy_tuple)
 * under a mutex and used through the copy; pixels are read only of images nobody clears.
 * test_support.h's CHECK* are not thread-safe: workers use STRICT / DICT_CALL instead.
 * DLOPT_TEST_SANITIZER=valgrind scales iterations down (valgrind serialises threads);
 * DLOPT_STRESS_ITERATIONS overrides them.
 */
#define _POSIX_C_SOURCE 200809L

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "test_support.h"

#define NTHREADS 8
#define FULL_ITERATIONS 100000
#define VALGRIND_ITERATIONS 3000
#define NSHARED 4        /* stable dicts, never cleared while the workers run */
#define NVOL 3           /* dicts per generation */
#define REFRESH_AFTER 64 /* a worker re-copies the published generation after this many uses */
#define MAX_MESSAGES 3   /* failure messages printed per source line */

/* Destroys every tuple listed. */
#define DESTROY(...) \
    destroy_all((Htuple[]){__VA_ARGS__}, sizeof((Htuple[]){__VA_ARGS__}) / sizeof(Htuple))
static void destroy_all(const Htuple *tuples, size_t count) {
    for (size_t i = 0; i < count; i++) destroy_tuple(tuples[i]);
}

/* ---- keys: tuple keys ('1' and 1 are different keys), object keys, nested dicts -------- */

enum {
    KEY_TUPLES = 8, /* keys 0..7 hold self-checking tuples */
    KEY_IMG0 = 8,
    KEY_IMG1,
    KEY_CHILD,   /* a child dict nobody clears */
    KEY_DOOMED,  /* a child dict its creator (and readers) clear right after storing it */
    KEY_GIMG,    /* the generation's image, cleared together with its dicts */
    KEY_NEVER_S, /* keys nobody sets */
    KEY_NEVER_I,
    KEY_V, /* the key of a child's value */
    NKEYS
};
static const struct {
    const char *text; /* NULL: an integer key */
    Hlong number;
} key_spec[NKEYS] = {{"k0", 0},    {"k1", 0},     {"1", 0},    {"2", 0},     {NULL, 1},
                     {NULL, 2},    {NULL, 3},     {NULL, 40},  {"img0", 0},  {"img1", 0},
                     {"child", 0}, {"doomed", 0}, {"gimg", 0}, {"never", 0}, {NULL, 99},
                     {"v", 0}};

/* ---- shared, read-only while the workers run ------------------------------------------ */

static Htuple keys[NKEYS], key_pair; /* key_pair: ['k0', 1] */
static Htuple name_keys, name_key_data_type, name_key_exists, empty;
static Htuple copy_names_deep, copy_values_deep; /* raise_error...='false' */
static Htuple copy_names_flat, copy_values_flat; /* ... and deep_copy='false' */
static Htuple index_0123, type_byte, clear_proc_tuple;
static Htuple shared_dicts[NSHARED];
static Hobject shared_images[3];     /* byte images following the pixel rule */
static Hobject main_extern_image;    /* gen_image1_extern; main holds a reference */
static unsigned char *main_extern_pixels;

/* ---- generations that get cleared ------------------------------------------------------ */

static pthread_mutex_t gen_lock = PTHREAD_MUTEX_INITIALIZER; /* guards the three below */
static Htuple gen_dicts[NVOL];
static Hobject gen_image;           /* extern, pixel 200 (8 x 4), under "gimg" in gen_dicts */
static unsigned long gen_epoch = 1; /* the published generation's number */
static pthread_mutex_t rotate_lock = PTHREAD_MUTEX_INITIALIZER; /* one rotation at a time */
static atomic_ulong clear_started, clear_done; /* newest epoch whose clear started / returned */
static atomic_ulong rotations;

static atomic_ulong main_extern_clears, local_extern_clears, local_extern_created;
static atomic_ulong clear_proc_errors;
static atomic_int messages_printed[1024]; /* by source line */
static atomic_bool finished;

enum { C_OK, C_KEY, C_CLEARED, C_CLEARED_CHILD, C_CTRL, C_NULL_CHILD, C_UNEXPECTED, NCOUNTS };
static const char *const count_names[NCOUNTS] = {
    "ok", "2894", "2454(generation)", "2454(child)", "2460", "null-child", "unexpected"};

typedef struct {
    int id;
    uint64_t rng;
    long iterations;
    Htuple vol[NVOL]; /* own copy of a published generation */
    unsigned long vol_epoch;
    int vol_uses;
    unsigned long done_before; /* clear_done before the current DICT_CALL */
    unsigned long counts[NCOUNTS], failures;
    atomic_long progress; /* iterations done, for the watchdog */
    pthread_t thread;
} Worker;

/* A dict to operate on and its generation (0: a stable dict; ULONG_MAX: 2454 acceptable). */
typedef struct {
    Htuple dict;
    unsigned long epoch;
} Target;

static uint64_t next_random(Worker *w) { /* xorshift64* */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return w->rng * 2685821657736338717ULL;
}

static void failure(Worker *w, int line, const char *format, ...) {
    w->failures++;
    if (atomic_fetch_add(&messages_printed[line & 1023], 1) >= MAX_MESSAGES) return;
    char text[600];
    va_list args;
    va_start(args, format);
    vsnprintf(text, sizeof text, format, args);
    va_end(args);
    fprintf(stderr, "stress.c:%d: thread %d: %s\n", line, w->id, text);
}

/* The call must succeed (on objects the calling thread owns, or tuples it made). */
#define STRICT(w, call) strict_result((w), (call), #call, __LINE__)
static bool strict_result(Worker *w, Herror rc, const char *what, int line) {
    if (rc == H_MSG_TRUE) return true;
    failure(w, line, "%s returned %d (%s)", what, (int)rc, dlopt_last_error_message());
    w->counts[C_UNEXPECTED]++;
    return false;
}

enum { ALLOW_KEY = 1, ALLOW_CTRL = 2 };

/*
 * Judges `rc` of an operation on target `t`; `w->done_before` is clear_done read before the
 * call. A generation cleared (clear_handle returned) before the call must give 2454; 2454
 * is accepted only once that clear had started (clear_started read after the call). Else
 * the call must succeed, or fail with 2894 / 2460 if `allow` says so. Returns true on
 * success (the caller then checks the outputs).
 */
static bool dict_result(Worker *w, const Target *t, Herror rc, unsigned allow, const char *what,
                        int line) {
    unsigned long started_after = atomic_load(&clear_started);
    bool cleared_before = t->epoch != 0 && w->done_before >= t->epoch;
    bool clearing = t->epoch == ULONG_MAX || (t->epoch != 0 && started_after >= t->epoch);
    if (rc == H_ERR_HANDLE_CLEARED && clearing) {
        w->counts[C_CLEARED]++;
        return false;
    }
    if (cleared_before) {
        failure(w, line, "%s after its generation was cleared returned %d, expected 2454 (%s)",
                what, (int)rc, rc == H_MSG_TRUE ? "" : dlopt_last_error_message());
    } else if (rc == H_MSG_TRUE) {
        w->counts[C_OK]++;
        return true;
    } else if (rc == H_ERR_DICT_KEY && (allow & ALLOW_KEY)) {
        w->counts[C_KEY]++;
        return false;
    } else if (rc == H_ERR_WT_CTRL_EXPECTED && (allow & ALLOW_CTRL)) {
        w->counts[C_CTRL]++;
        return false;
    } else {
        failure(w, line, "%s returned %d (%s)%s", what, (int)rc, dlopt_last_error_message(),
                rc == H_ERR_HANDLE_CLEARED ? " before any clear of it had started" : "");
    }
    w->counts[C_UNEXPECTED]++;
    return false;
}

/* Runs `call` on target `t`: true if it succeeded (see dict_result). The comma operator
 * reads clear_done before the call. */
#define DICT_CALL(w, t, allow, call) \
    ((w)->done_before = atomic_load(&clear_done), \
     dict_result((w), (t), (call), (allow), #call, __LINE__))

/* ---- self-checking values ------------------------------------------------------------- */

static Htuple make_value(Worker *w, Hlong x) {
    Htuple value = HTUPLE_INITIALIZER;
    char text[32];
    snprintf(text, sizeof text, "v%lld", (long long)x);
    STRICT(w, create_tuple(&value, 4));
    STRICT(w, set_i(value, x, 0));
    STRICT(w, set_i(value, 7 * x + 3, 1));
    STRICT(w, set_s(value, text, 2));
    STRICT(w, set_d(value, (double)x / 4.0, 3));
    return value;
}

/* Checks a value read back: one a writer could have stored, never a mix of two. */
static void check_value(Worker *w, Htuple value, const char *where) {
    Hlong length = -1, x = 0, y = 0;
    int t[4] = {0, 0, 0, 0};
    const char *text = "";
    double real = 0;
    char expected[32];
    STRICT(w, length_tuple(value, &length));
    for (int i = 0; i < 4 && length == 4; i++) STRICT(w, get_type(value, i, &t[i]));
    if (t[0] != LONG_PAR || t[1] != LONG_PAR || t[2] != STRING_PAR || t[3] != DOUBLE_PAR) {
        failure(w, __LINE__, "%s: %lld elements of types %d %d %d %d", where,
                (long long)length, t[0], t[1], t[2], t[3]);
        return;
    }
    STRICT(w, get_i(value, 0, &x));
    STRICT(w, get_i(value, 1, &y));
    STRICT(w, get_s(value, 2, &text));
    STRICT(w, get_d(value, 3, &real));
    snprintf(expected, sizeof expected, "v%lld", (long long)x);
    if (y != 7 * x + 3 || strcmp(text, expected) != 0 || real != (double)x / 4.0)
        failure(w, __LINE__, "%s: torn value [%lld, %lld, %s, %g]", where, (long long)x,
                (long long)y, text, real);
}

static Hlong width_for(unsigned p) { return 8 + p % 8; }
static Hlong height_for(unsigned p) { return 4 + p % 5; }

static Hlong get_int(Worker *w, Htuple tuple) {
    Hlong value = -1;
    STRICT(w, get_i(tuple, 0, &value));
    return value;
}

static Htuple int_tuple(Worker *w, Hlong value) {
    Htuple tuple = HTUPLE_INITIALIZER;
    STRICT(w, create_tuple_i(&tuple, value));
    return tuple;
}

/* Checks an image nobody can clear: one channel of bytes, uniform pixel p, the rule's size
 * (get_image_pointer1, get_image_size, count_channels). */
static void check_image(Worker *w, Hobject image, const char *where) {
    Htuple pointer = HTUPLE_INITIALIZER, type = HTUPLE_INITIALIZER, width = HTUPLE_INITIALIZER,
           height = HTUPLE_INITIALIZER, channels = HTUPLE_INITIALIZER, width2 = HTUPLE_INITIALIZER,
           height2 = HTUPLE_INITIALIZER;
    if (STRICT(w, get_image_pointer1(image, &pointer, &type, &width, &height)) &&
        STRICT(w, get_image_size(image, &width2, &height2))) {
        const unsigned char *pixels = (const unsigned char *)(intptr_t)get_int(w, pointer);
        const char *name = "";
        STRICT(w, get_s(type, 0, &name));
        Hlong cols = get_int(w, width), rows = get_int(w, height);
        unsigned p = pixels[0];
        if (strcmp(name, "byte") != 0 || cols != width_for(p) || rows != height_for(p) ||
            cols != get_int(w, width2) || rows != get_int(w, height2))
            failure(w, __LINE__, "%s: image %s %lldx%lld with pixel %u breaks the rule", where,
                    name, (long long)cols, (long long)rows, p);
        else
            for (Hlong i = 0; i < cols * rows; i++)
                if (pixels[i] != p) {
                    failure(w, __LINE__, "%s: pixel %lld is %u, not %u", where, (long long)i,
                            pixels[i], p);
                    break;
                }
    }
    if (STRICT(w, count_channels(image, &channels)) && get_int(w, channels) != 1)
        failure(w, __LINE__, "%s: image does not have 1 channel", where);
    DESTROY(pointer, type, width, height, channels, width2, height2);
}

/* The ClearProc of every extern image: counts, calls dlopt (reentrancy: this may run inside
 * any operator that drops the last reference), and frees the malloc'd pixels. */
static void count_clear(void *pointer) {
    Htuple probe = HTUPLE_INITIALIZER;
    if (create_dict(&probe) != H_MSG_TRUE || destroy_tuple(probe) != H_MSG_TRUE)
        atomic_fetch_add(&clear_proc_errors, 1);
    atomic_fetch_add(pointer == main_extern_pixels ? &main_extern_clears : &local_extern_clears,
                     1);
    free(pointer);
}

/* A new image with pixel value p: copied from a stack buffer, or using malloc'd memory
 * that count_clear frees (extern; *memory receives it if not NULL). Returns 0 on failure. */
static Hobject make_image(Worker *w, unsigned p, bool external, unsigned char **memory) {
    unsigned char stack[15 * 8];
    Hlong cols = width_for(p), rows = height_for(p);
    unsigned char *pixels = external ? malloc((size_t)(cols * rows)) : stack;
    Hobject image = 0;
    if (pixels == NULL) return 0;
    memset(pixels, (int)p, (size_t)(cols * rows));
    Htuple width = int_tuple(w, cols), height = int_tuple(w, rows);
    Htuple address = int_tuple(w, (Hlong)(intptr_t)pixels);
    if (!external)
        STRICT(w, gen_image1(&image, type_byte, width, height, address));
    else if (STRICT(w, gen_image1_extern(&image, type_byte, width, height, address,
                                         clear_proc_tuple)))
        atomic_fetch_add(&local_extern_created, 1);
    else
        free(pixels); /* on error the memory stays ours */
    DESTROY(width, height, address);
    if (memory != NULL) *memory = pixels;
    return image;
}

/* Index of the key in element `at` of `tuple`, or -1. */
static int find_key(Worker *w, Htuple tuple, Hlong at) {
    int type = 0;
    const char *text = "";
    Hlong number = -1;
    if (!STRICT(w, get_type(tuple, at, &type))) return -1;
    if (type == STRING_PAR) STRICT(w, get_s(tuple, at, &text));
    if (type == LONG_PAR) STRICT(w, get_i(tuple, at, &number));
    for (int k = 0; k < NKEYS; k++)
        if (key_spec[k].text != NULL ? type == STRING_PAR && strcmp(text, key_spec[k].text) == 0
                                     : type == LONG_PAR && number == key_spec[k].number)
            return k;
    return -1;
}

/* Checks a child tuple read from "child" / "doomed": a live child must hold a valid "v";
 * a doomed one may also be cleared (2454) or, in a deep copy, NULL. */
static void check_child(Worker *w, Htuple child, bool doomed, bool via_number) {
    Hhandle number = 0;
    Hlong length = -1;
    STRICT(w, length_tuple(child, &length));
    if (length != 1 || !STRICT(w, get_h(child, 0, &number))) {
        failure(w, __LINE__, "child tuple of %lld elements or not a handle", (long long)length);
        return;
    }
    if (number == 0) {
        if (!doomed) failure(w, __LINE__, "a live child was copied as NULL");
        w->counts[C_NULL_CHILD]++;
        return;
    }
    /* Optionally round-trip the number into an own reference (create_tuple_h). */
    Htuple own = child, value = HTUPLE_INITIALIZER;
    if (via_number && !STRICT(w, create_tuple_h(&own, number))) return;
    Herror rc = get_dict_tuple(own, keys[KEY_V], &value);
    if (rc == H_MSG_TRUE)
        check_value(w, value, "child");
    else if (rc == H_ERR_HANDLE_CLEARED && doomed)
        w->counts[C_CLEARED_CHILD]++;
    else
        failure(w, __LINE__, "reading a %s child returned %d (%s)", doomed ? "doomed" : "live",
                (int)rc, dlopt_last_error_message());
    destroy_tuple(value);
    if (via_number) destroy_tuple(own);
}

/* Reads the generation image under "gimg" with operators only (never its pixels: a clear
 * may free them at any time); codes are judged against target `t`'s epoch. */
static void check_gen_image(Worker *w, const Target *t, Htuple dict) {
    Hobject image = 0;
    Htuple width = HTUPLE_INITIALIZER, height = HTUPLE_INITIALIZER, count = HTUPLE_INITIALIZER;
    if (!DICT_CALL(w, t, ALLOW_KEY, get_dict_object(&image, dict, keys[KEY_GIMG]))) return;
    if (DICT_CALL(w, t, 0, get_image_size(image, &width, &height)) &&
        (get_int(w, width) != 8 || get_int(w, height) != 4))
        failure(w, __LINE__, "generation image has a wrong size");
    if (DICT_CALL(w, t, 0, count_channels(image, &count)) && get_int(w, count) != 1)
        failure(w, __LINE__, "generation image: channels != 1");
    DICT_CALL(w, t, 0, clear_obj(image)); /* 2, or 2454 once cleared; never 2450 */
    DESTROY(width, height, count);
}

/* Checks every entry of a dict no other thread changes (a private copy, or a stable dict
 * after the workers are done). */
static void check_private_dict(Worker *w, Htuple dict) {
    Htuple all = HTUPLE_INITIALIZER;
    Hlong count = 0;
    if (!STRICT(w, get_dict_param(dict, name_keys, empty, &all))) return;
    STRICT(w, length_tuple(all, &count));
    for (Hlong i = 0; i < count; i++) {
        int k = find_key(w, all, i);
        Htuple value = HTUPLE_INITIALIZER;
        Hobject image = 0;
        Target any = {dict, ULONG_MAX}; /* a shallow copy shares the generation image */
        if (k >= 0 && k < KEY_TUPLES) {
            if (STRICT(w, get_dict_tuple(dict, keys[k], &value))) check_value(w, value, "copy");
        } else if (k == KEY_IMG0 || k == KEY_IMG1) {
            if (STRICT(w, get_dict_object(&image, dict, keys[k]))) {
                check_image(w, image, "copy");
                STRICT(w, clear_obj(image));
            }
        } else if (k == KEY_CHILD || k == KEY_DOOMED) {
            if (STRICT(w, get_dict_tuple(dict, keys[k], &value)))
                check_child(w, value, k == KEY_DOOMED, false);
        } else if (k == KEY_GIMG) {
            check_gen_image(w, &any, dict);
        } else {
            failure(w, __LINE__, "unexpected key %lld (index %d) in a dict", (long long)i, k);
        }
        destroy_tuple(value);
    }
    destroy_tuple(all);
}

/* ---- generations ---------------------------------------------------------------------- */

/* A new generation: NVOL dicts holding tuples, a child, a shared image and one new extern
 * image, whose C reference the creator keeps until the generation is cleared. */
static void make_generation(Worker *w, Htuple dicts[NVOL], Hobject *image) {
    *image = make_image(w, 200, true, NULL);
    for (int i = 0; i < NVOL; i++) {
        Htuple child = HTUPLE_INITIALIZER, value = make_value(w, 5);
        STRICT(w, create_dict(&dicts[i]));
        STRICT(w, set_dict_tuple(dicts[i], keys[i], value));
        STRICT(w, create_dict(&child));
        STRICT(w, set_dict_tuple(child, keys[KEY_V], value));
        STRICT(w, set_dict_tuple(dicts[i], keys[KEY_CHILD], child));
        STRICT(w, set_dict_object(shared_images[0], dicts[i], keys[KEY_IMG0]));
        STRICT(w, set_dict_object(*image, dicts[i], keys[KEY_GIMG]));
        DESTROY(value, child);
    }
}

/* clear_handle of a generation: its dicts and its image in one mixed tuple. */
static void clear_generation(Worker *w, Htuple dicts[NVOL], Hobject image) {
    Htuple all = HTUPLE_INITIALIZER;
    STRICT(w, create_tuple(&all, NVOL + 1));
    for (int i = 0; i < NVOL; i++) {
        Hhandle number = 0;
        STRICT(w, get_h(dicts[i], 0, &number));
        STRICT(w, set_h(all, number, i));
    }
    STRICT(w, set_h(all, image, NVOL));
    STRICT(w, clear_handle(all));
    destroy_tuple(all);
    Herror rc = clear_obj(image); /* the creator's reference went with the clear */
    if (rc != H_ERR_HANDLE_CLEARED)
        failure(w, __LINE__, "clear_obj of a cleared image returned %d, expected 2454", (int)rc);
}

/* Publishes a new generation and clears the old one while other workers use their copies. */
static void rotate(Worker *w) {
    if (pthread_mutex_trylock(&rotate_lock) != 0) return;
    Htuple fresh[NVOL], old[NVOL];
    Hobject fresh_image, old_image;
    make_generation(w, fresh, &fresh_image);
    pthread_mutex_lock(&gen_lock);
    unsigned long old_epoch = gen_epoch++;
    for (int i = 0; i < NVOL; i++) {
        old[i] = gen_dicts[i];
        gen_dicts[i] = fresh[i];
    }
    old_image = gen_image;
    gen_image = fresh_image;
    pthread_mutex_unlock(&gen_lock);
    atomic_store(&clear_started, old_epoch);
    clear_generation(w, old, old_image);
    atomic_store(&clear_done, old_epoch);
    atomic_fetch_add(&rotations, 1);
    for (int i = 0; i < NVOL; i++) {
        Htuple value = HTUPLE_INITIALIZER;
        Herror rc = get_dict_tuple(old[i], keys[0], &value);
        if (rc != H_ERR_HANDLE_CLEARED)
            failure(w, __LINE__, "get_dict_tuple right after clear_handle returned %d", (int)rc);
        DESTROY(old[i], value);
    }
    pthread_mutex_unlock(&rotate_lock);
}

/* A stable dict (65%) or a dict of the worker's own copy of the published generation. */
static Target pick_target(Worker *w) {
    Target target = {shared_dicts[next_random(w) % NSHARED], 0};
    if (next_random(w) % 100 < 65) return target;
    if (w->vol_uses >= REFRESH_AFTER || w->vol_epoch == 0) {
        destroy_all(w->vol, NVOL);
        pthread_mutex_lock(&gen_lock);
        for (int i = 0; i < NVOL; i++) STRICT(w, copy_tuple(gen_dicts[i], &w->vol[i]));
        w->vol_epoch = gen_epoch;
        pthread_mutex_unlock(&gen_lock);
        w->vol_uses = 0;
    }
    w->vol_uses++;
    target.dict = w->vol[next_random(w) % NVOL];
    target.epoch = w->vol_epoch;
    return target;
}

/* ---- operations ----------------------------------------------------------------------- */

static Hlong random_x(Worker *w) { return (Hlong)(next_random(w) & 0xffffffff); }

static void op_set(Worker *w, const Target *t, bool at) {
    Htuple value = make_value(w, random_x(w)), key = keys[next_random(w) % KEY_TUPLES];
    if (at) /* all four elements in one call: atomic too */
        DICT_CALL(w, t, 0, set_dict_tuple_at(t->dict, key, index_0123, value));
    else
        DICT_CALL(w, t, 0, set_dict_tuple(t->dict, key, value));
    destroy_tuple(value);
}

static void op_get(Worker *w, const Target *t, Htuple dict) {
    Htuple value = HTUPLE_INITIALIZER, key = keys[next_random(w) % KEY_TUPLES];
    if (DICT_CALL(w, t, ALLOW_KEY, get_dict_tuple(dict, key, &value)))
        check_value(w, value, "get_dict_tuple");
    destroy_tuple(value);
}

static void op_remove(Worker *w, const Target *t) {
    uint64_t r = next_random(w) % 10;
    Htuple key = r == 0 ? key_pair : keys[r < 8 ? next_random(w) % KEY_TUPLES : KEY_IMG0 + r - 8];
    DICT_CALL(w, t, ALLOW_KEY, remove_dict_key(t->dict, key));
}

/* Keys nobody sets: exactly 2894 (or 2454 on a cleared dict). */
static void op_missing(Worker *w, const Target *t) {
    Htuple value = HTUPLE_INITIALIZER;
    Hobject image = 0;
    if (DICT_CALL(w, t, ALLOW_KEY, get_dict_tuple(t->dict, keys[KEY_NEVER_S], &value)))
        failure(w, __LINE__, "get_dict_tuple of a key never set succeeded");
    destroy_tuple(value);
    if (DICT_CALL(w, t, ALLOW_KEY, get_dict_object(&image, t->dict, keys[KEY_NEVER_I])))
        failure(w, __LINE__, "get_dict_object of a key never set succeeded");
    if (DICT_CALL(w, t, ALLOW_KEY, remove_dict_key(t->dict, keys[KEY_NEVER_I])))
        failure(w, __LINE__, "remove_dict_key of a key never set succeeded");
}

/* 'keys' lists only known keys, each once; 'key_data_type' fits the key's class. */
static void op_keys(Worker *w, const Target *t) {
    Htuple result = HTUPLE_INITIALIZER, type = HTUPLE_INITIALIZER, exists = HTUPLE_INITIALIZER;
    Hlong count = 0;
    unsigned seen = 0;
    if (DICT_CALL(w, t, 0, get_dict_param(t->dict, name_keys, empty, &result)))
        STRICT(w, length_tuple(result, &count));
    for (Hlong i = 0; i < count; i++) {
        int k = find_key(w, result, i);
        if (k < 0 || k >= KEY_NEVER_S || (seen & (1u << k)))
            failure(w, __LINE__, "'keys' element %lld unknown or repeated (%d)", (long long)i, k);
        else
            seen |= 1u << k;
    }
    int k = (int)(next_random(w) % KEY_NEVER_S);
    if (DICT_CALL(w, t, 0, get_dict_param(t->dict, name_key_data_type, keys[k], &type))) {
        const char *text = "";
        bool object = k == KEY_IMG0 || k == KEY_IMG1 || k == KEY_GIMG;
        const char *expected = object ? "object" : "tuple";
        STRICT(w, get_s(type, 0, &text));
        if (strcmp(text, expected) != 0 && strcmp(text, "none") != 0)
            failure(w, __LINE__, "key %d has data type '%s'", k, text);
    }
    if (DICT_CALL(w, t, 0, get_dict_param(t->dict, name_key_exists, keys[KEY_NEVER_S], &exists)) &&
        get_int(w, exists) != 0)
        failure(w, __LINE__, "key 'never' exists");
    DESTROY(result, type, exists);
}

/* copy_dict (deep or shallow), check the private copy, then destroy or clear it. */
static void op_copy(Worker *w, const Target *t) {
    bool shallow = next_random(w) & 1;
    Htuple copy = HTUPLE_INITIALIZER, names = shallow ? copy_names_flat : copy_names_deep;
    if (DICT_CALL(w, t, 0, copy_dict(t->dict, names, shallow ? copy_values_flat : copy_values_deep,
                                     &copy))) {
        check_private_dict(w, copy);
        if (next_random(w) & 1) STRICT(w, clear_handle(copy));
    }
    destroy_tuple(copy);
}

/* Stores an image: a new copied or extern one (then released), a shared one, main's extern. */
static void op_object_set(Worker *w, const Target *t) {
    uint64_t r = next_random(w) % 10;
    Hobject image = r < 4 ? make_image(w, (unsigned)(next_random(w) & 0xff), r >= 2, NULL)
                    : r < 7 ? shared_images[r - 4]
                            : main_extern_image;
    if (image == 0) return;
    DICT_CALL(w, t, 0, set_dict_object(image, t->dict, keys[KEY_IMG0 + next_random(w) % 2]));
    if (r < 4) STRICT(w, clear_obj(image));
}

/* get_dict_object, check the image, sometimes store it in a stable dict, release it; and
 * get_dict_tuple of an object key (2460). */
static void op_object_get(Worker *w, const Target *t) {
    Hobject image = 0;
    Htuple key = keys[KEY_IMG0 + next_random(w) % 2], value = HTUPLE_INITIALIZER;
    if (DICT_CALL(w, t, ALLOW_KEY, get_dict_object(&image, t->dict, key))) {
        check_image(w, image, "get_dict_object");
        if (next_random(w) % 4 == 0) {
            Target other = {shared_dicts[next_random(w) % NSHARED], 0};
            DICT_CALL(w, &other, 0, set_dict_object(image, other.dict, key));
        }
        STRICT(w, clear_obj(image));
    }
    if (DICT_CALL(w, t, ALLOW_KEY | ALLOW_CTRL, get_dict_tuple(t->dict, key, &value)))
        failure(w, __LINE__, "get_dict_tuple of an object key succeeded");
    destroy_tuple(value);
}

/* Stores a new child dict; a doomed one is cleared right after (readers may see 2454). */
static void op_nest_set(Worker *w, const Target *t) {
    bool doomed = next_random(w) % 3 == 0;
    Htuple child = HTUPLE_INITIALIZER, value = make_value(w, random_x(w));
    Htuple key = keys[doomed ? KEY_DOOMED : KEY_CHILD];
    if (STRICT(w, create_dict(&child))) {
        STRICT(w, set_dict_tuple(child, keys[KEY_V], value));
        DICT_CALL(w, t, 0, set_dict_tuple(t->dict, key, child));
        if (doomed) STRICT(w, clear_handle(child));
    }
    DESTROY(value, child);
}

static void op_nest_get(Worker *w, const Target *t) {
    bool doomed = next_random(w) % 3 == 0;
    Htuple child = HTUPLE_INITIALIZER, key = keys[doomed ? KEY_DOOMED : KEY_CHILD];
    if (DICT_CALL(w, t, ALLOW_KEY, get_dict_tuple(t->dict, key, &child))) {
        check_child(w, child, doomed, next_random(w) & 1);
        /* Readers clear doomed children too, racing with the creator and each other. */
        if (doomed && next_random(w) % 4 == 0) STRICT(w, clear_handle(child));
    }
    destroy_tuple(child);
}

/* copy_tuple of a handle tuple, tuple_is_valid_handle and a read through the copy. */
static void op_copy_handle(Worker *w, const Target *t) {
    Htuple copy = HTUPLE_INITIALIZER, valid = HTUPLE_INITIALIZER;
    if (!STRICT(w, copy_tuple(t->dict, &copy))) return;
    unsigned long done_before = atomic_load(&clear_done);
    if (STRICT(w, tuple_is_valid_handle(copy, &valid))) {
        Hlong flag = get_int(w, valid);
        bool cleared = t->epoch != 0 && done_before >= t->epoch;
        bool clearing = t->epoch != 0 && atomic_load(&clear_started) >= t->epoch;
        if (cleared ? flag != 0 : (flag != 1 && !(flag == 0 && clearing)))
            failure(w, __LINE__, "tuple_is_valid_handle gave %lld (cleared: %d)",
                    (long long)flag, (int)cleared);
    }
    op_get(w, t, copy);
    DESTROY(valid, copy);
}

/* Images the thread creates (copied or extern), checks and releases itself. */
static void op_image_local(Worker *w) {
    Hobject image = make_image(w, (unsigned)(next_random(w) & 0xff), next_random(w) & 1, NULL);
    if (image == 0) return;
    check_image(w, image, "local image");
    STRICT(w, clear_obj(image));
    /* Releasing it again must fail (dlopt.h says 2450 for "twice"; an image already
     * destroyed gives 2454, see the report). */
    Herror again = clear_obj(image);
    if (again != H_ERR_WHDL && again != H_ERR_HANDLE_CLEARED)
        failure(w, __LINE__, "a second clear_obj returned %d", (int)again);
}

static void *worker_main(void *argument) {
    Worker *w = argument;
    for (long i = 0; i < w->iterations; i++) {
        Target t = pick_target(w);
        uint64_t r = next_random(w) % 1000;
        if (r < 150) op_set(w, &t, false);
        else if (r < 230) op_set(w, &t, true);
        else if (r < 440) op_get(w, &t, t.dict);
        else if (r < 480) op_remove(w, &t);
        else if (r < 520) op_missing(w, &t);
        else if (r < 570) op_keys(w, &t);
        else if (r < 600) op_copy(w, &t);
        else if (r < 660) op_object_set(w, &t);
        else if (r < 740) op_object_get(w, &t);
        else if (r < 780) op_nest_set(w, &t);
        else if (r < 840) op_nest_get(w, &t);
        else if (r < 870) op_copy_handle(w, &t);
        else if (r < 910) check_image(w, shared_images[next_random(w) % 3], "shared image");
        else if (r < 940) check_gen_image(w, &t, t.dict);
        else if (r < 998) op_image_local(w);
        else rotate(w);
        atomic_store_explicit(&w->progress, i + 1, memory_order_relaxed);
    }
    destroy_all(w->vol, NVOL);
    return NULL;
}

/* ---- watchdog, setup, main ------------------------------------------------------------ */

static Worker workers[NTHREADS];
static double time_limit;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *watchdog_main(void *unused) {
    (void)unused;
    const struct timespec tick = {0, 50 * 1000 * 1000};
    double start = now();
    while (!atomic_load(&finished)) {
        if (now() - start > time_limit) {
            fprintf(stderr, "stress: not done after %.0f s (deadlock?); progress:", time_limit);
            for (int i = 0; i < NTHREADS; i++)
                fprintf(stderr, " %ld/%ld", atomic_load(&workers[i].progress),
                        workers[i].iterations);
            fprintf(stderr, "\n");
            abort();
        }
        nanosleep(&tick, NULL);
    }
    return NULL;
}

static void setup(Worker *w) {
    for (int k = 0; k < NKEYS; k++)
        keys[k] = key_spec[k].text ? tuple_s(key_spec[k].text) : tuple_i(key_spec[k].number);
    key_pair = tuple_of("si", "k0", (Hlong)1);
    name_keys = tuple_s("keys");
    name_key_data_type = tuple_s("key_data_type");
    name_key_exists = tuple_s("key_exists");
    empty = tuple_empty();
    copy_names_deep = tuple_s("raise_error_if_content_not_serializable");
    copy_values_deep = tuple_s("false");
    copy_names_flat = tuple_of("ss", "raise_error_if_content_not_serializable", "deep_copy");
    copy_values_flat = tuple_of("ss", "false", "false");
    CHECK_OK(create_tuple(&index_0123, 4));
    for (int i = 0; i < 4; i++) CHECK_OK(set_i(index_0123, i, i));
    type_byte = tuple_s("byte");
    /* The ClearProc's address as an integer (ISO C has no function-to-object pointer cast). */
    void (*proc)(void *) = count_clear;
    Hlong proc_address = 0;
    _Static_assert(sizeof proc == sizeof proc_address, "function pointers are 64-bit");
    memcpy(&proc_address, &proc, sizeof proc);
    clear_proc_tuple = tuple_i(proc_address);

    shared_images[0] = make_image(w, 17, false, NULL);
    shared_images[1] = make_image(w, 42, false, NULL);
    Htuple width = tuple_i(8), height = tuple_i(4); /* pixel 0: 8 x 4 */
    CHECK_OK(gen_image_const(&shared_images[2], type_byte, width, height));
    DESTROY(width, height);
    /* Main's extern image (pixel 200); main keeps its reference until the end. */
    main_extern_image = make_image(w, 200, true, &main_extern_pixels);

    /* Stable dicts with every kind of entry. */
    for (int d = 0; d < NSHARED; d++) {
        Target target = {HTUPLE_INITIALIZER, 0};
        CHECK_OK(create_dict(&shared_dicts[d]));
        target.dict = shared_dicts[d];
        for (int k = 0; k < KEY_TUPLES; k++) {
            Htuple value = make_value(w, 1000 * d + k);
            CHECK_OK(set_dict_tuple(shared_dicts[d], keys[k], value));
            destroy_tuple(value);
        }
        CHECK_OK(set_dict_object(main_extern_image, shared_dicts[d], keys[KEY_IMG0]));
        CHECK_OK(set_dict_object(shared_images[d % 3], shared_dicts[d], keys[KEY_IMG1]));
        op_nest_set(w, &target);
        op_nest_set(w, &target);
    }
    make_generation(w, gen_dicts, &gen_image);
}

int main(void) {
    const char *sanitizer = getenv("DLOPT_TEST_SANITIZER");
    const char *override = getenv("DLOPT_STRESS_ITERATIONS");
    bool valgrind = sanitizer != NULL && strcmp(sanitizer, "valgrind") == 0;
    bool asan = sanitizer != NULL && strcmp(sanitizer, "address") == 0;
    long iterations = override != NULL ? atol(override)
                      : valgrind       ? VALGRIND_ITERATIONS
                                       : FULL_ITERATIONS;
    time_limit = valgrind ? 900.0 : asan ? 300.0 : 120.0;

    Worker *main_worker = calloc(1, sizeof *main_worker);
    CHECK(main_worker != NULL);
    main_worker->id = -1;
    main_worker->rng = 0x9e3779b97f4a7c15ULL;
    setup(main_worker);

    pthread_t watchdog;
    CHECK(pthread_create(&watchdog, NULL, watchdog_main, NULL) == 0);
    double start = now();
    for (int i = 0; i < NTHREADS; i++) {
        workers[i].id = i;
        workers[i].rng = 0x2545f4914f6cdd1dULL * (uint64_t)(i + 1);
        workers[i].iterations = iterations;
        CHECK(pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) == 0);
    }
    for (int i = 0; i < NTHREADS; i++) CHECK(pthread_join(workers[i].thread, NULL) == 0);
    double elapsed = now() - start;
    atomic_store(&finished, true);
    CHECK(pthread_join(watchdog, NULL) == 0);

    /* Single-threaded again: every stable dict holds only valid entries. */
    for (int d = 0; d < NSHARED; d++) check_private_dict(main_worker, shared_dicts[d]);

    /* Teardown: the published generation is cleared, a stable dict too, the others freed by
     * their last reference. Main's extern image must live until main releases it. */
    clear_generation(main_worker, gen_dicts, gen_image);
    destroy_all(gen_dicts, NVOL);
    CHECK_OK(clear_handle(shared_dicts[0]));
    destroy_all(shared_dicts, NSHARED);
    CHECK(atomic_load(&main_extern_clears) == 0);
    CHECK_OK(clear_obj(main_extern_image));
    CHECK(atomic_load(&main_extern_clears) == 1);
    CHECK(atomic_load(&local_extern_clears) + 1 == atomic_load(&local_extern_created));
    CHECK(atomic_load(&clear_proc_errors) == 0);
    for (int i = 0; i < 3; i++) CHECK_OK(clear_obj(shared_images[i]));
    destroy_all(keys, NKEYS);
    DESTROY(key_pair, name_keys, name_key_data_type, name_key_exists, empty, copy_names_deep,
            copy_values_deep, copy_names_flat, copy_values_flat, index_0123, type_byte,
            clear_proc_tuple);

    /* Error codes by kind: none unexpected, and the racing clears were observed. */
    unsigned long counts[NCOUNTS] = {0}, failures = main_worker->failures;
    for (int i = 0; i < NTHREADS; i++) {
        failures += workers[i].failures;
        for (int c = 0; c < NCOUNTS; c++) counts[c] += workers[i].counts[c];
    }
    counts[C_UNEXPECTED] += main_worker->counts[C_UNEXPECTED];
    free(main_worker);
    CHECK(counts[C_UNEXPECTED] == 0);
    CHECK(counts[C_KEY] > 0);
    CHECK(atomic_load(&rotations) > 0);
    CHECK(counts[C_CLEARED] > 0);

    long total = (long)NTHREADS * iterations;
    printf("stress: %d threads x %ld ops = %ld ops in %.2f s (%.0f ops/s), %lu rotations, "
           "%lu extern images;",
           NTHREADS, iterations, total, elapsed, (double)total / elapsed,
           atomic_load(&rotations), atomic_load(&local_extern_created));
    for (int c = 0; c < NCOUNTS; c++) printf(" %s=%lu", count_names[c], counts[c]);
    printf("; %lu failures\n", failures + (unsigned long)test_failures);
    return failures == 0 ? TEST_RESULT() : 1;
}
