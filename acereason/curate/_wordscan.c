/* The compiled paths of decontamination (acereason.curate.decontam_hash, decontam, decontam_code), built as an
 * optional extension by setup.py: where no C compiler is available the numpy/regex paths run instead, with the
 * same results (tests/test_curate_wordscan.py compares each function here with the path it replaces).
 *   scan_words     one pass over a batch: number formatting folded, word tokens found and hashed
 *   probe_windows  every n-word window's rolled hash tested against an index table
 *   reduce_code    code statements without their platform scaffolding (code_statement)
 * Every input is untrusted training text: reads are bounds-checked, output sizes checked before a scan.
 *
 * scan_words(src, unit, table, dst, starts, ends, hashes, docs, drop) -> (n_words, n_units, n_nuls)
 *   src     the batch as code units: unit 1 = one byte per character (ASCII), unit 2 = UTF-16-LE units;
 *           lowercase but for ASCII letters, which the scan lowers itself
 *   table   65536 bytes, nonzero where the BMP code point is alphanumeric (str.isalnum)
 *   dst     writable, len(src) bytes: receives the batch without the dropped number-formatting characters
 *   starts, ends, hashes, docs   writable int64/int64/uint64/int64 arrays with room for every word
 *   drop    uint64 word hashes to leave out, as if the text did not have those words
 * A word is a maximal run of alphanumeric units (a-z, 0-9, or the table for units >= 128); its hash is the
 * polynomial sum c[j] * B**(e-1-j) over its units (uint64, wrapping) through the splitmix64 finaliser; NUL
 * separates documents and ends no word it is not next to.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define B 0x9E3779B97F4A7C15ULL

static inline uint64_t mix(uint64_t h) {
    h ^= h >> 30;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 27;
    h *= 0x94D049BB133111EBULL;
    return h ^ (h >> 31);
}

static inline int is_digit(uint32_t c) { return c - 48u < 10u; }

enum { OTHER = 0, WORD = 1, PUNCT = 2, NUL = 3 };

typedef struct {
    int64_t *starts, *ends, *docs;
    uint64_t *hashes;
    size_t words, units, nuls;
    const uint64_t *drop; /* word hashes to leave out (few), behind a 4096-bit set on their top 12 bits */
    size_t n_drop;
    uint64_t drop_bits[64];
} Scan;

/* The words' raw hashes through the finaliser, the dropped words left out (compacted in place). */
static size_t finish(Scan *out, size_t nw) {
    size_t o = 0;
    for (size_t j = 0; j < nw; j++) {
        uint64_t hv = mix(out->hashes[j]);
        if (out->drop_bits[hv >> 58] >> ((hv >> 52) & 63) & 1) {
            size_t k = 0;
            while (k < out->n_drop && out->drop[k] != hv) k++;
            if (k < out->n_drop) continue;
        }
        out->starts[o] = out->starts[j];
        out->ends[o] = out->ends[j];
        out->docs[o] = out->docs[j];
        out->hashes[o++] = hv;
    }
    return o;
}

/* How many of the units from i on are number formatting to drop (0: none), read on the original units (each
 * decision depends only on them, so the result is that of the numpy path's independent masks). For a decimal
 * point whose digits end in zeros, *zlo/*zhi receive the zeros' range and the point's own verdict is returned.
 * The caller has checked that s[i] is ',' '.' or '{' and follows a digit (the scan tests that inline). */
#define FORMAT_DROP(T)                                                                                        \
    static size_t format_drop_##T(const T *s, size_t n, size_t i, size_t *zlo, size_t *zhi) {                 \
        uint32_t c = s[i];                                                                                    \
        uint32_t a[7];                                                                                        \
        for (int k = 1; k <= 6; k++) a[k] = i + k < n ? s[i + k] : 0;                                         \
        if (c == 44) /* "1,000": a comma, three digits, then no digit */                                      \
            return is_digit(a[1]) && is_digit(a[2]) && is_digit(a[3]) && !is_digit(a[4]);                    \
        if (c == 123) /* "1{,}000" */                                                                         \
            return (a[1] == 44 && a[2] == 125 && is_digit(a[3]) && is_digit(a[4]) && is_digit(a[5]) &&        \
                    !is_digit(a[6])) ? 3 : 0;                                                                 \
        if (!is_digit(a[1])) return 0; /* "3.0", "2.50": the zeros that end the decimals go */                \
        size_t end = i + 1;                                                                                   \
        while (end < n && is_digit(s[end])) end++;                                                            \
        size_t cut = end;                                                                                     \
        while (cut > i + 1 && s[cut - 1] == 48) cut--;                                                        \
        if (cut == end) return 0;                                                                             \
        *zlo = cut;                                                                                           \
        *zhi = end;                                                                                           \
        return cut == i + 1; /* no other digit is left: the point goes too */                                 \
    }

FORMAT_DROP(uint8_t)
FORMAT_DROP(uint16_t)

/* The scan for one unit type. cls: the class of units < 256; units >= 256 look up alnum. Word boundaries
 * without branches (a branch at each word's start and end mispredicts about every third unit of prose, which
 * cost three times the rest): every unit stores the current word's record at slot nw, and nw moves on only
 * where a word has just ended; the raw hashes go through the finaliser and the drop filter after (finish). */
#define SCAN(T)                                                                                               \
    static void scan_##T(const T *restrict s, size_t n, T *restrict d, const uint8_t *restrict cls,           \
                         const uint8_t *restrict alnum, Scan *out) {                                          \
        size_t w = 0, nw = 0, zlo = (size_t)-1, zhi = 0;                                                      \
        uint64_t in_word = 0, h = 0, doc = 0, start = 0;                                                      \
        int64_t *restrict starts = out->starts, *restrict ends = out->ends, *restrict docs = out->docs;       \
        uint64_t *restrict hashes = out->hashes;                                                              \
        for (size_t i = 0; i < n; i++) {                                                                      \
            uint32_t c = s[i];                                                                                \
            c = c - 65u < 26u ? c + 32 : c; /* ASCII lowercase here: the caller need not lower the batch */  \
            uint32_t k = c < 256 ? cls[c] : (alnum[c] ? WORD : OTHER);                                        \
            if (__builtin_expect(k == PUNCT, 0) && i > 0 && is_digit(s[i - 1])) {                           \
                size_t skip = format_drop_##T(s, n, i, &zlo, &zhi);                                           \
                if (skip) {                                                                                   \
                    i += skip - 1;                                                                            \
                    continue;                                                                                 \
                }                                                                                             \
            }                                                                                                 \
            if (__builtin_expect(i == zlo, 0)) { /* a decimal's trailing zeros */                             \
                i = zhi - 1;                                                                                  \
                zlo = (size_t)-1;                                                                             \
                continue;                                                                                     \
            }                                                                                                 \
            uint64_t is_w = k == WORD;                                                                        \
            starts[nw] = (int64_t)start;                                                                      \
            ends[nw] = (int64_t)w;                                                                            \
            hashes[nw] = h;                                                                                   \
            docs[nw] = (int64_t)doc;                                                                          \
            nw += in_word & (is_w ^ 1);                                                                       \
            start = is_w & (in_word ^ 1) ? w : start;                                                         \
            h = (h * B + c) & (0 - is_w);                                                                     \
            in_word = is_w;                                                                                   \
            doc += k == NUL;                                                                                  \
            d[w++] = (T)c;                                                                                    \
        }                                                                                                     \
        if (in_word) {                                                                                        \
            starts[nw] = (int64_t)start;                                                                      \
            ends[nw] = (int64_t)w;                                                                            \
            hashes[nw] = h;                                                                                   \
            docs[nw++] = (int64_t)doc;                                                                        \
        }                                                                                                     \
        out->words = finish(out, nw);                                                                         \
        out->units = w;                                                                                       \
        out->nuls = doc;                                                                                      \
    }

SCAN(uint8_t)
SCAN(uint16_t)

static PyObject *scan_words(PyObject *self, PyObject *args) {
    Py_buffer src, table, dst, bstarts, bends, bhashes, bdocs, bdrop;
    int unit;
    if (!PyArg_ParseTuple(args, "y*iy*w*w*w*w*w*y*", &src, &unit, &table, &dst, &bstarts, &bends, &bhashes, &bdocs,
                          &bdrop))
        return NULL;
    PyObject *result = NULL;
    size_t n = (size_t)src.len / (size_t)(unit == 2 ? 2 : 1);
    size_t cap = (size_t)bstarts.len / 8;
    if ((unit != 1 && unit != 2) || table.len < 65536 || dst.len < src.len || (size_t)bends.len / 8 < cap ||
        (size_t)bhashes.len / 8 < cap || (size_t)bdocs.len / 8 < cap || cap < n / 2 + 1) {
        PyErr_SetString(PyExc_ValueError, "scan_words: bad unit or output buffers too small");
        goto done;
    }
    const uint8_t *alnum = (const uint8_t *)table.buf;
    uint8_t cls[256];
    for (int c = 0; c < 256; c++) cls[c] = c < 128 ? ((c - 97u < 26u) || is_digit(c) ? WORD : OTHER)
                                                   : (unit == 2 && alnum[c] ? WORD : OTHER);
    cls[44] = cls[46] = cls[123] = PUNCT;
    cls[0] = NUL;
    Scan out = {(int64_t *)bstarts.buf, (int64_t *)bends.buf, (int64_t *)bdocs.buf, (uint64_t *)bhashes.buf, 0, 0, 0,
                (const uint64_t *)bdrop.buf, (size_t)bdrop.len / 8, {0}};
    for (size_t k = 0; k < out.n_drop; k++) out.drop_bits[out.drop[k] >> 58] |= 1ULL << ((out.drop[k] >> 52) & 63);
    Py_BEGIN_ALLOW_THREADS
    if (unit == 1)
        scan_uint8_t((const uint8_t *)src.buf, n, (uint8_t *)dst.buf, cls, alnum, &out);
    else
        scan_uint16_t((const uint16_t *)src.buf, n, (uint16_t *)dst.buf, cls, alnum, &out);
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("(nnn)", (Py_ssize_t)out.words, (Py_ssize_t)out.units, (Py_ssize_t)out.nuls);
done:
    PyBuffer_Release(&src);
    PyBuffer_Release(&table);
    PyBuffer_Release(&dst);
    PyBuffer_Release(&bstarts);
    PyBuffer_Release(&bends);
    PyBuffer_Release(&bhashes);
    PyBuffer_Release(&bdocs);
    PyBuffer_Release(&bdrop);
    return result;
}

/* ---- code statements: acereason.curate.decontam_code.code_statement, one text at a time ------------------
 * reduce_code(texts, lower, space, word) -> list of str or None
 *   lower   65536 uint16: the lowercase of each BMP code point, 0 where str.lower is not one code point of a
 *           fixed mapping (capital sigma, which lowers by context; U+0130; surrogates): such a text, and a text
 *           holding a code point beyond the BMP, gets None and is reduced by the Python function instead.
 *   space, word   65536 bytes: re's \s and \w per BMP code point.
 * The two regex substitutions of code_statement are matched by hand, with re's semantics: a match is tried at
 * each newline from where the previous one ended, the header as its greedy pattern (backtracking cannot change
 * the outcome of these patterns: each optional piece is followed by a character it does not match), the lazy
 * body up to the first place its look-ahead holds; then the stock sentences are replaced in their order. */
typedef struct {
    const uint16_t *lower;
    const uint8_t *space, *word;
} Tables;

static const char *STOCK_TEXT[] = {"the input is given from standard input in the following format:",
                              "the input is given from standard input in the following format",
                              "all the input values are integers.", "all the input values are integers",
                              "all input values are integers.", "all input values are integers",
                              "print the answer.", "print the answer",
                              "the input consists of multiple test cases.", "the input consists of multiple test cases",
                              NULL};
static const char *BASE_TEXT[] = {"the input is given from standard input in the following format",
                                    "the input consists of multiple test cases", "all the input values are integers",
                                    "all input values are integers", "print the answer", NULL};

/* A needle with its Horspool shift table (built once, at import). */
typedef struct {
    const char *text;
    size_t len;
    uint8_t shift[256];
} Needle;

#define N_STOCK 10
#define N_BASES 5
static Needle stock[N_STOCK], bases[N_BASES];

static void needle_init(Needle *nd, const char *text) {
    nd->text = text;
    nd->len = strlen(text);
    for (int c = 0; c < 256; c++) nd->shift[c] = (uint8_t)nd->len;
    for (size_t i = 0; i + 1 < nd->len; i++) nd->shift[(unsigned char)text[i]] = (uint8_t)(nd->len - 1 - i);
}

/* The matchers, once per code-unit width of the lowered text: 1 byte (a Latin-1 text lowers within Latin-1)
 * and 2 (a BMP text). */
#define T uint8_t
#define NAME(x) x##_u8
#include "_wordscan_reduce.h"
#undef T
#undef NAME
#define T uint16_t
#define NAME(x) x##_u16
#include "_wordscan_reduce.h"
#undef T
#undef NAME

static PyObject *reduce_code(PyObject *self, PyObject *args) {
    PyObject *texts;
    Py_buffer blower, bspace, bword;
    if (!PyArg_ParseTuple(args, "O!y*y*y*", &PyList_Type, &texts, &blower, &bspace, &bword)) return NULL;
    PyObject *out = NULL;
    void *buf = NULL;
    size_t cap = 0;
    if (blower.len < 65536 * 2 || bspace.len < 65536 || bword.len < 65536) {
        PyErr_SetString(PyExc_ValueError, "reduce_code: tables too small");
        goto done;
    }
    Tables t = {(const uint16_t *)blower.buf, (const uint8_t *)bspace.buf, (const uint8_t *)bword.buf};
    uint8_t lower8[256];
    int latin1 = 1; /* every Latin-1 letter lowers within Latin-1 (Unicode has it so; checked, not assumed) */
    for (int c = 0; c < 256; c++) {
        lower8[c] = c < 128 ? (c - 65u < 26u ? c + 32 : c) : (uint8_t)t.lower[c];
        if (c >= 128 && (t.lower[c] == 0 || t.lower[c] > 255)) latin1 = 0;
    }
    Py_ssize_t count = PyList_GET_SIZE(texts);
    out = PyList_New(count);
    if (!out) goto done;
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *s = PyList_GET_ITEM(texts, k);
        if (!PyUnicode_Check(s)) {
            PyErr_SetString(PyExc_TypeError, "reduce_code: texts must be str");
            Py_CLEAR(out);
            goto done;
        }
        int kind = PyUnicode_KIND(s);
        size_t n = (size_t)PyUnicode_GET_LENGTH(s) + 1, need = 2 * n * (size_t)kind;
        if (need > cap) {
            free(buf);
            cap = 2 * need;
            buf = malloc(cap);
            if (!buf) {
                PyErr_NoMemory();
                Py_CLEAR(out);
                goto done;
            }
        }
        PyObject *r = NULL;
        if (kind == PyUnicode_1BYTE_KIND && (latin1 || PyUnicode_IS_ASCII(s)))
            r = reduce_u8(PyUnicode_1BYTE_DATA(s), n, (uint8_t *)buf, &t, lower8);
        else if (kind == PyUnicode_2BYTE_KIND)
            r = reduce_u16(PyUnicode_2BYTE_DATA(s), n, (uint16_t *)buf, &t, lower8);
        else {
            r = Py_None; /* beyond the BMP: the Python function */
            Py_INCREF(r);
        }
        if (!r) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, k, r);
    }
done:
    free(buf);
    PyBuffer_Release(&blower);
    PyBuffer_Release(&bspace);
    PyBuffer_Release(&bword);
    return out;
}

/* ---- window lookups: NgramIndex's table probe over every n-word window of a batch ------------------------
 * probe_windows(ids, m, n, bits, bytewise, shift, hashes, hit, slot) -> count
 *   ids     uint64 word hashes (padded: at least m + n - 1 of them)
 *   m       how many windows (starting at 0 .. m-1)
 *   bits    the table's filter on the top bits of a hash: one byte per slot (bytewise) or packed uint64 bits
 *   hashes  the table's sorted window hashes
 *   hit, slot   int64 outputs (room for m): the windows found, in order, and their index in hashes
 * A window's hash is sum_j ids[i+j] * P**(n-1-j) (uint64), window_hashes' value, rolled from one window to
 * the next; only windows that pass the filter are binary-searched. */
#define P 0x100000001B3ULL

static PyObject *probe_windows(PyObject *self, PyObject *args) {
    Py_buffer bids, bbits, bhashes, bhit, bslot;
    Py_ssize_t m, n;
    int bytewise, shift;
    if (!PyArg_ParseTuple(args, "y*nny*iiy*w*w*", &bids, &m, &n, &bbits, &bytewise, &shift, &bhashes, &bhit, &bslot))
        return NULL;
    PyObject *result = NULL;
    size_t len = (size_t)bids.len / 8, nh = (size_t)bhashes.len / 8;
    if (n < 1 || m < 0 || (m > 0 && (size_t)(m + n - 1) > len) || (size_t)bhit.len / 8 < (size_t)m ||
        (size_t)bslot.len / 8 < (size_t)m || shift < 0 || shift > 63 || nh == 0) {
        PyErr_SetString(PyExc_ValueError, "probe_windows: bad sizes");
        goto done;
    }
    const uint64_t *ids = (const uint64_t *)bids.buf, *hs = (const uint64_t *)bhashes.buf;
    const uint8_t *flags = (const uint8_t *)bbits.buf;
    const uint64_t *bits = (const uint64_t *)bbits.buf;
    size_t nbits = bytewise ? (size_t)bbits.len : (size_t)bbits.len * 8;
    int64_t *hit = (int64_t *)bhit.buf, *slot = (int64_t *)bslot.buf;
    size_t count = 0;
    Py_BEGIN_ALLOW_THREADS
    uint64_t pn = 1; /* P**n: what the word leaving the window is worth when the next one comes in */
    for (Py_ssize_t j = 0; j < n; j++) pn *= P;
    uint64_t h = 0;
    for (Py_ssize_t j = 0; j < n && j < (Py_ssize_t)len; j++) h = h * P + ids[j];
    for (size_t i = 0; i < (size_t)m; i++) {
        if (i) h = h * P - ids[i - 1] * pn + ids[i + n - 1];
        uint64_t sl = h >> shift;
        int pass = sl < nbits && (bytewise ? flags[sl] : (int)(bits[sl >> 6] >> (sl & 63) & 1));
        if (__builtin_expect(pass, 0)) {
            size_t lo = 0, hi = nh; /* the first hash >= h */
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (hs[mid] < h) lo = mid + 1; else hi = mid;
            }
            if (lo < nh && hs[lo] == h) {
                hit[count] = (int64_t)i;
                slot[count++] = (int64_t)lo;
            }
        }
    }
    Py_END_ALLOW_THREADS
    result = PyLong_FromSize_t(count);
done:
    PyBuffer_Release(&bids);
    PyBuffer_Release(&bbits);
    PyBuffer_Release(&bhashes);
    PyBuffer_Release(&bhit);
    PyBuffer_Release(&bslot);
    return result;
}

static PyMethodDef methods[] = {
    {"scan_words", scan_words, METH_VARARGS, "Fold number formats, find and hash the words of a batch (see the C source)."},
    {"reduce_code", reduce_code, METH_VARARGS, "code_statement of every text (None: use the Python function)."},
    {"probe_windows", probe_windows, METH_VARARGS, "The n-word windows of a batch found in a table (see the source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_wordscan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__wordscan(void) {
    for (int k = 0; k < N_STOCK; k++) needle_init(&stock[k], STOCK_TEXT[k]);
    for (int k = 0; k < N_BASES; k++) needle_init(&bases[k], BASE_TEXT[k]);
    PyObject *m = PyModule_Create(&module);
    /* Bumped whenever a function's arguments or results change: a stale build is then not used. */
    if (m && PyModule_AddIntConstant(m, "ABI", 1) < 0) Py_CLEAR(m);
    return m;
}
