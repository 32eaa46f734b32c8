/* The code-statement matchers of _wordscan.c for one code-unit type T (included once per width, with NAME
 * giving each function a suffix). See reduce_code in _wordscan.c for what they match and why it is re's. */

static inline size_t NAME(blank)(const T *u, size_t n, size_t i) {
    while (i < n && (u[i] == ' ' || u[i] == '\t')) i++;
    return i;
}

static inline int NAME(lit)(const T *u, size_t n, size_t i, const char *s) {
    for (; *s; s++, i++)
        if (i >= n || u[i] != (T)(unsigned char)*s) return 0;
    return 1;
}

/* [ \t]*:?[ \t]*\r? then \n, or (at_end) the end of the text: the position after it, or -1 */
static inline long NAME(tail)(const T *u, size_t n, size_t i, int at_end) {
    i = NAME(blank)(u, n, i);
    if (i < n && u[i] == ':') i++;
    i = NAME(blank)(u, n, i);
    if (i < n && u[i] == '\r') i++;
    if (i < n && u[i] == '\n') return (long)i + 1;
    return at_end && i == n ? (long)i : -1;
}

/* "input" / "output" at i (after blanks), then (?:\s+format)? and the tail: the end of the match with the
 * group (*with) and without it (*plain), -1 where that form does not match. re tries the group first and
 * comes back to the form without it when what follows the header fails (the block body, for "input"). */
static void NAME(section_ends)(const T *u, size_t n, size_t i, const char *word, size_t len, int at_end,
                               const Tables *t, long *with, long *plain) {
    *with = *plain = -1;
    i = NAME(blank)(u, n, i);
    if (!NAME(lit)(u, n, i, word)) return;
    i += len;
    size_t j = i;
    if (j < n && t->space[u[j]]) {
        while (j < n && t->space[u[j]]) j++;
        if (NAME(lit)(u, n, j, "format")) *with = NAME(tail)(u, n, j + 6, at_end);
    }
    *plain = NAME(tail)(u, n, i, at_end);
}

/* The output line (a look-ahead: any form that matches will do) right after a newline. */
static inline int NAME(output_line)(const T *u, size_t n, size_t i, const Tables *t) {
    long with, plain;
    NAME(section_ends)(u, n, i, "output", 6, 1, t, &with, &plain);
    return with >= 0 || plain >= 0;
}

static inline int NAME(boundary)(const T *u, size_t n, size_t j, const Tables *t) {
    return j >= n || !t->word[u[j]];
}

/* word, an optional "s", then \b (examples?\b, notes?\b) at i */
static inline int NAME(plural_word)(const T *u, size_t n, size_t i, const char *word, size_t len, const Tables *t) {
    if (!NAME(lit)(u, n, i, word)) return 0;
    size_t j = i + len;
    if (j < n && u[j] == 's') j++;
    return NAME(boundary)(u, n, j, t);
}

/* [ \t]*(?:sample\s+input|examples?\b|input\b|output\b|notes?\b|follow[- ]?up) at i */
static int NAME(next_section)(const T *u, size_t n, size_t i, const Tables *t) {
    i = NAME(blank)(u, n, i);
    if (i >= n) return 0;
    size_t j;
    switch (u[i]) {
    case 's':
        if (!NAME(lit)(u, n, i, "sample")) return 0;
        j = i + 6;
        if (j >= n || !t->space[u[j]]) return 0;
        while (j < n && t->space[u[j]]) j++;
        return NAME(lit)(u, n, j, "input");
    case 'e':
        return NAME(plural_word)(u, n, i, "example", 7, t);
    case 'i':
        return NAME(lit)(u, n, i, "input") && NAME(boundary)(u, n, i + 5, t);
    case 'o':
        return NAME(lit)(u, n, i, "output") && NAME(boundary)(u, n, i + 6, t);
    case 'n':
        return NAME(plural_word)(u, n, i, "note", 4, t);
    case 'f':
        if (!NAME(lit)(u, n, i, "follow")) return 0;
        j = i + 6;
        if (j < n && (u[j] == '-' || u[j] == ' ')) j++;
        return NAME(lit)(u, n, j, "up");
    }
    return 0;
}

/* \n[ \t]*constraints?[ \t]*:?[ \t]*\r?\n at the newline p */
static long NAME(constraint_header)(const T *u, size_t n, size_t p) {
    size_t i = NAME(blank)(u, n, p + 1);
    if (!NAME(lit)(u, n, i, "constraint")) return -1;
    i += 10;
    if (i < n && u[i] == 's') i++;
    return NAME(tail)(u, n, i, 0);
}

static inline size_t NAME(next_newline)(const T *u, size_t n, size_t i) {
    if (sizeof(T) == 1) { /* memchr: vectorised */
        const void *p = i < n ? memchr(u + i, '\n', n - i) : NULL;
        return p ? (size_t)((const T *)p - u) : n;
    }
    while (i < n && u[i] != '\n') i++;
    return i;
}

/* The first newline at or after h where the block ends (the next section for a constraint block, which also
 * ends at the end of the text: returns n; an output line for an input block: n when there is none). */
static size_t NAME(block_end)(const T *u, size_t n, size_t h, const Tables *t, int constraints) {
    size_t q = NAME(next_newline)(u, n, h);
    while (q < n && !(constraints ? NAME(next_section)(u, n, q + 1, t) : NAME(output_line)(u, n, q + 1, t)))
        q = NAME(next_newline)(u, n, q + 1);
    return q;
}

/* One substitution pass, in place (a match only shortens the text, so writes never pass reads): at each
 * newline from where the last match ended, a header, then the body up to the first newline where the end
 * holds (a constraint block also ends at the end of the text); each match becomes "\n". New length.
 * An input block's body search that finds no output line from s finds none from any later start either (the
 * same suffix, unchanged: writes stay behind the reads), so such starts are not searched again: without that
 * a text of many "input" headers and no output line costs the square of its length (re's does). */
static size_t NAME(sub_blocks)(T *u, size_t n, const Tables *t, int constraints) {
    size_t o = 0, i = 0, copied = 0; /* u[copied, i) is still to move to u[o...) */
    size_t fail_from = (size_t)-1;    /* an input-block body search from here or later finds no output line */
    for (i = NAME(next_newline)(u, n, 0); i < n; i = NAME(next_newline)(u, n, i + 1)) {
        size_t q = n;
        int found = 0;
        if (constraints) {
            long h = NAME(constraint_header)(u, n, i);
            if (h < 0) continue;
            q = NAME(block_end)(u, n, (size_t)h, t, 1);
            found = 1;
        } else {
            long ends[2];
            NAME(section_ends)(u, n, i + 1, "input", 5, 0, t, &ends[0], &ends[1]);
            for (int k = 0; k < 2 && !found; k++) { /* with "format" first, as re tries it, then without */
                if (ends[k] < 0 || (size_t)ends[k] >= fail_from) continue;
                q = NAME(block_end)(u, n, (size_t)ends[k], t, 0);
                if (q < n) found = 1;
                else fail_from = (size_t)ends[k];
            }
        }
        if (!found) continue;
        memmove(u + o, u + copied, (i - copied) * sizeof(T));
        o += i - copied;
        u[o++] = '\n';
        copied = q;
        if (q >= n) break;
        i = q - 1; /* the next try is at q itself, where this match ended */
    }
    memmove(u + o, u + copied, (n - copied) * sizeof(T));
    return o + n - copied;
}

/* The first occurrence of s in u[from, n): Horspool's search (the window's last unit picks the shift), which
 * skips most of the text for these long needles; a unit >= 256 occurs in no needle, so it shifts by len. */
static int NAME(find)(const T *u, size_t n, size_t from, const Needle *s, size_t *at) {
    size_t len = s->len;
    for (size_t i = from; i + len <= n;) {
        T last = u[i + len - 1];
        if (last == (T)(unsigned char)s->text[len - 1] && NAME(lit)(u, n, i, s->text)) {
            *at = i;
            return 1;
        }
        i += last < 256 ? s->shift[last] : len;
    }
    return 0;
}

/* Whether a stock base occurs. */
static int NAME(has_stock)(const T *u, size_t n) {
    size_t at;
    for (int b = 0; b < N_BASES; b++)
        if (NAME(find)(u, n, 0, &bases[b], &at)) return 1;
    return 0;
}

/* str.replace(stock, " ") for each stock sentence in order, in place; only when a stock base occurs. */
static size_t NAME(strip_stock)(T *u, size_t n) {
    size_t at;
    if (!NAME(has_stock)(u, n)) return n;
    for (int k = 0; k < N_STOCK; k++) {
        size_t len = stock[k].len, o = 0, i = 0;
        while (NAME(find)(u, n, i, &stock[k], &at)) {
            memmove(u + o, u + i, (at - i) * sizeof(T));
            o += at - i;
            u[o++] = ' ';
            i = at + len;
        }
        if (i) {
            memmove(u + o, u + i, (n - i) * sizeof(T));
            n = o + n - i;
        }
    }
    return n;
}

/* code_statement of one text of n - 1 units (its leading newline makes n): lowercase, the two block passes,
 * the stock sentences; None where lowercasing needs str.lower. */
static PyObject *NAME(reduce)(const T *src, size_t n, T *u, const Tables *t, const uint8_t *lower8) {
    u[0] = '\n';
    for (size_t i = 1; i < n; i++) {
        T c = src[i - 1];
        if (c < 256) {
            u[i] = lower8[c];
        } else {
            uint16_t l = t->lower[c];
            if (!l) Py_RETURN_NONE;
            u[i] = (T)l;
        }
    }
    n = NAME(sub_blocks)(u, n, t, 0);
    n = NAME(sub_blocks)(u, n, t, 1);
    n = NAME(strip_stock)(u, n);
    return PyUnicode_FromKindAndData(sizeof(T) == 1 ? PyUnicode_1BYTE_KIND : PyUnicode_2BYTE_KIND, u, (Py_ssize_t)n);
}
