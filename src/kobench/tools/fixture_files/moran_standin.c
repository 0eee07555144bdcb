/*
 * Stand-in for the HanBERT vendor's morpheme analyser (libmoran4dnlp.so), for tests only.
 *
 * It exports the four functions of the vendor library with their signatures and the same output format:
 * the morphemes of the input separated by single spaces, a morpheme that continues an eojeol after a stem
 * prefixed with "~~" (particles and endings) or "~" (a new stem inside the same eojeol), punctuation as
 * morphemes of its own. The analysis is a deterministic rule, not a real analyser: an eojeol is cut into
 * runs of Hangul, of other letters and digits, and single punctuation characters; a Hangul run loses one
 * final ending from its end and then any inner endings before it (longest match first, at least one
 * syllable kept as the stem), all taken from the dictionary.
 *
 *   "나는 걸어가고 있는 중입니다."  ->  "나 ~~는 걸어가 ~~고 있 ~~는 중 ~~입 ~~니다 ."
 *
 * The dictionary is moran.db beside the library itself (else /usr/local/moran/moran.db), a text file:
 * the line "MORAN-STANDIN 1", then "final <ending>" and "inner <ending>" lines. MorAn16_open_dbs() returns 0,
 * or prints "moran.db: cannot open dictionary" to stderr and returns -1; until the dictionary is open,
 * Moran4dnlp() returns an empty string.
 *
 * Build: cc -shared -fPIC -O2 -o libmoran4dnlp.so moran_standin.c
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENDINGS 512
#define MAX_ENDING_BYTES 32
#define MAX_CHARS 65536

static char finals[MAX_ENDINGS][MAX_ENDING_BYTES];
static char inners[MAX_ENDINGS][MAX_ENDING_BYTES];
static int n_finals = 0, n_inners = 0, opened = 0;

/* ---- the dictionary ------------------------------------------------------------------------------------ */

static FILE *open_beside_library(void) {
    Dl_info info;
    char path[4096];
    if (dladdr((void *)open_beside_library, &info) && info.dli_fname) {
        const char *slash = strrchr(info.dli_fname, '/');
        if (slash) {
            snprintf(path, sizeof path, "%.*s/moran.db", (int)(slash - info.dli_fname), info.dli_fname);
            FILE *db = fopen(path, "r");
            if (db) return db;
        }
    }
    return fopen("/usr/local/moran/moran.db", "r");
}

int MorAn16_open_dbs(void) {
    char line[256], kind[32], ending[MAX_ENDING_BYTES];
    FILE *db = open_beside_library();
    n_finals = n_inners = opened = 0;
    if (!db || !fgets(line, sizeof line, db) || strncmp(line, "MORAN-STANDIN 1", 15) != 0) {
        fprintf(stderr, "moran.db: cannot open dictionary\n");
        if (db) fclose(db);
        return -1;
    }
    while (fgets(line, sizeof line, db)) {
        if (sscanf(line, "%31s %31s", kind, ending) != 2) continue;
        if (strcmp(kind, "final") == 0 && n_finals < MAX_ENDINGS) strcpy(finals[n_finals++], ending);
        if (strcmp(kind, "inner") == 0 && n_inners < MAX_ENDINGS) strcpy(inners[n_inners++], ending);
    }
    fclose(db);
    opened = 1;
    return 0;
}

void MorAn_close_dbs(void) { opened = n_finals = n_inners = 0; }

/* ---- UTF-8 characters ---------------------------------------------------------------------------------- */

typedef struct {
    const char *start;
    int bytes;
    int kind; /* 0 space, 1 Hangul, 2 other letter or digit, 3 punctuation */
} Char;

static int decode(const unsigned char *s, unsigned *code) {
    if (s[0] < 0x80) { *code = s[0]; return 1; }
    if ((s[0] & 0xE0) == 0xC0 && s[1]) { *code = ((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu); return 2; }
    if ((s[0] & 0xF0) == 0xE0 && s[1] && s[2]) {
        *code = ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
        return 3;
    }
    if ((s[0] & 0xF8) == 0xF0 && s[1] && s[2] && s[3]) {
        *code = ((s[0] & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
        return 4;
    }
    *code = s[0];
    return 1;
}

static int kind_of(unsigned c) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return 0;
    if ((c >= 0xAC00 && c <= 0xD7A3) || (c >= 0x1100 && c <= 0x11FF) || (c >= 0x3130 && c <= 0x318F)) return 1;
    if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c >= 0x80) {
        /* CJK symbols and punctuation, general punctuation, full-width forms count as punctuation */
        if ((c >= 0x2000 && c <= 0x206F) || (c >= 0x3000 && c <= 0x303F) || (c >= 0xFF00 && c <= 0xFF0F) ||
            (c >= 0xFF1A && c <= 0xFF20) || (c >= 0x00A1 && c <= 0x00BF))
            return 3;
        return 2;
    }
    return 3;
}

/* ---- output -------------------------------------------------------------------------------------------- */

typedef struct {
    char *buffer;
    int size, used, truncated;
} Out;

static void emit(Out *out, const char *mark, const char *start, int bytes) {
    int need = (out->used ? 1 : 0) + (int)strlen(mark) + bytes;
    if (out->used + need >= out->size) { out->truncated = 1; return; }
    if (out->used) out->buffer[out->used++] = ' ';
    memcpy(out->buffer + out->used, mark, strlen(mark));
    out->used += (int)strlen(mark);
    memcpy(out->buffer + out->used, start, bytes);
    out->used += bytes;
    out->buffer[out->used] = '\0';
}

/* the longest ending of `table` that ends the characters [first, last) and leaves at least one before it */
static int ending_length(char table[][MAX_ENDING_BYTES], int count, const Char *chars, int first, int last) {
    int best = 0;
    for (int i = 0; i < count; i++) {
        int bytes = (int)strlen(table[i]), n = 0, have = 0;
        for (int k = last - 1; k > first && have < bytes; k--) { have += chars[k].bytes; n++; }
        if (have == bytes && n > best && memcmp(chars[last - n].start, table[i], bytes) == 0) best = n;
    }
    return best;
}

static void hangul_run(Out *out, const Char *chars, int first, int last, const char *mark) {
    int ends[8], n_ends = 0, end = last;
    int cut = ending_length(finals, n_finals, chars, first, end);
    if (cut) {
        ends[n_ends++] = cut;
        end -= cut;
        while (n_ends < 8 && (cut = ending_length(inners, n_inners, chars, first, end))) {
            ends[n_ends++] = cut;
            end -= cut;
        }
    }
    emit(out, mark, chars[first].start, (int)(chars[end - 1].start + chars[end - 1].bytes - chars[first].start));
    for (int i = n_ends - 1; i >= 0; i--) {
        const Char *a = &chars[end], *b = &chars[end + ends[i] - 1];
        emit(out, "~~", a->start, (int)(b->start + b->bytes - a->start));
        end += ends[i];
    }
}

static void eojeol(Out *out, const Char *chars, int first, int last) {
    int previous_was_word = 0;
    for (int i = first; i < last;) {
        int j = i + 1;
        if (chars[i].kind == 3) {
            emit(out, "", chars[i].start, chars[i].bytes);
            previous_was_word = 0;
        } else {
            while (j < last && chars[j].kind == chars[i].kind) j++;
            const char *mark = previous_was_word ? "~" : "";
            if (chars[i].kind == 1) hangul_run(out, chars, i, j, mark);
            else emit(out, mark, chars[i].start, (int)(chars[j - 1].start + chars[j - 1].bytes - chars[i].start));
            previous_was_word = 1;
        }
        i = j;
    }
}

const char *Moran4dnlp(const char *input, char *output, int size) {
    static Char chars[MAX_CHARS];
    Out out = {output, size, 0, 0};
    if (!output || size < 1) return "";
    output[0] = '\0';
    if (!opened || !input) return output;
    int n = 0;
    for (const unsigned char *s = (const unsigned char *)input; *s && n < MAX_CHARS;) {
        unsigned code;
        int bytes = decode(s, &code);
        chars[n].start = (const char *)s;
        chars[n].bytes = bytes;
        chars[n].kind = kind_of(code);
        n++;
        s += bytes;
    }
    for (int i = 0; i < n;) {
        if (chars[i].kind == 0) { i++; continue; }
        int j = i;
        while (j < n && chars[j].kind != 0) j++;
        eojeol(&out, chars, i, j);
        i = j;
    }
    return output;
}

/* the character positions "start:end" (code points, end exclusive) of every occurrence of pattern in text */
const char *Moran4match(const char *text, const char *pattern, char *output, int size) {
    Out out = {output, size, 0, 0};
    if (!output || size < 1) return "";
    output[0] = '\0';
    if (!text || !pattern || !*pattern) return output;
    int plen = (int)strlen(pattern), pchars = 0, index = 0;
    for (const char *p = pattern; *p; p++) pchars += ((*p & 0xC0) != 0x80);
    for (const char *s = text; *s; s++) {
        if ((*s & 0xC0) == 0x80) continue;
        if (strncmp(s, pattern, plen) == 0) {
            char span[32];
            int len = snprintf(span, sizeof span, "%d:%d", index, index + pchars);
            emit(&out, "", span, len);
        }
        index++;
    }
    return output;
}
