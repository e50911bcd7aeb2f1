/* agg_expr_date.c - date expression operators and calendar arithmetic.
 *
 * $year $month $dayOfMonth $hour $minute $second $millisecond $dayOfWeek
 * $dayOfYear $week $isoWeek $isoWeekYear $isoDayOfWeek $dateToString
 * $dateFromString $dateFromParts. Calendar math is proleptic Gregorian on
 * UTC milliseconds. Time zones: "UTC", "GMT", "Z" and fixed offsets
 * ("+05:30", "-0800", "+03"); Olson names other than UTC are refused with
 * mongod's "unrecognized time zone identifier" error (no tz database). */
#include "query/agg_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS_PER_DAY 86400000LL

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t agg_days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

void agg_date_split(int64_t ms, struct agg_date_parts *p)
{
    int64_t days = floor_div(ms, MS_PER_DAY);
    int64_t rem = ms - days * MS_PER_DAY;
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    p->year = (int)y;
    p->month = (int)m;
    p->day = (int)d;
    p->hour = (int)(rem / 3600000);
    p->minute = (int)(rem / 60000 % 60);
    p->second = (int)(rem / 1000 % 60);
    p->millis = (int)(rem % 1000);
    p->day_of_week = (int)(floor_div(days + 4, 7) * -7 + days + 4) + 1; /* 1 = Sunday */
    p->day_of_year = (int)(days - agg_days_from_civil(y, 1, 1)) + 1;
}

void agg_date_format_iso(int64_t ms, char *buf, size_t size)
{
    struct agg_date_parts p;
    agg_date_split(ms, &p);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", p.year, p.month, p.day, p.hour, p.minute, p.second,
             p.millis);
}

bool agg_date_parse_iso(const char *s, int64_t *ms_out)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3)
        return false;
    const char *p = s + n;
    if (*p == 'T' || *p == ' ') {
        if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &n) != 2)
            return false;
        p += 1 + n;
        if (*p == ':') {
            if (sscanf(p + 1, "%2d%n", &sec, &n) != 1)
                return false;
            p += 1 + n;
            if (*p == '.') {
                int digits = 0, frac = 0;
                for (p++; *p >= '0' && *p <= '9'; p++, digits++)
                    if (digits < 3)
                        frac = frac * 10 + (*p - '0');
                for (; digits < 3; digits++)
                    frac *= 10;
                ms = frac;
            }
        }
    }
    int64_t offset_min = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh = 0, om = 0, sign = *p == '-' ? -1 : 1;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) == 2 || sscanf(p + 1, "%2d%2d%n", &oh, &om, &n) == 2 ||
            sscanf(p + 1, "%2d%n", &oh, &n) == 1)
            p += 1 + n;
        else
            return false;
        offset_min = sign * (oh * 60 + om);
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return false;
    int64_t days = agg_days_from_civil(y, mo, d);
    *ms_out = ((days * 24 + h) * 60 + mi - offset_min) * 60000 + (int64_t)sec * 1000 + ms;
    return true;
}

/* Offset in ms for a timezone value; error for anything but UTC/offsets. */
static int parse_timezone(const bson_value_t *tz, int64_t *offset_ms, struct err *e)
{
    *offset_ms = 0;
    if (agg_val_is_missing(tz))
        return 0;
    if (tz->value_type != BSON_TYPE_UTF8)
        return err_set(e, ERR_FAILED_TO_PARSE, "timezone must evaluate to a string, found %s",
                       agg_val_type_name(tz));
    const char *s = tz->value.v_utf8.str;
    if (strcmp(s, "UTC") == 0 || strcmp(s, "GMT") == 0 || strcmp(s, "Z") == 0 || strcmp(s, "Etc/UTC") == 0 ||
        strcmp(s, "Etc/GMT") == 0)
        return 0;
    if (s[0] == '+' || s[0] == '-') {
        int h = 0, m = 0, n = 0;
        const char *p = s + 1;
        size_t len = strlen(p);
        bool ok = (len == 5 && sscanf(p, "%2d:%2d%n", &h, &m, &n) == 2 && n == 5) ||
                  (len == 4 && sscanf(p, "%2d%2d%n", &h, &m, &n) == 2 && n == 4) ||
                  (len == 2 && sscanf(p, "%2d%n", &h, &n) == 1 && n == 2);
        if (ok && m < 60) {
            *offset_ms = (s[0] == '-' ? -1 : 1) * ((int64_t)h * 60 + m) * 60000;
            return 0;
        }
    }
    return err_set(e, ERR_FAILED_TO_PARSE, "unrecognized time zone identifier: \"%s\"", s);
}

/* A date-ish value as ms since the epoch: dates, Timestamps, ObjectIds. */
static int value_to_ms(const char *op, const bson_value_t *v, int64_t *ms, struct err *e)
{
    if (v->value_type == BSON_TYPE_DATE_TIME)
        *ms = v->value.v_datetime;
    else if (v->value_type == BSON_TYPE_TIMESTAMP)
        *ms = (int64_t)v->value.v_timestamp.timestamp * 1000;
    else if (v->value_type == BSON_TYPE_OID)
        *ms = (int64_t)bson_oid_get_time_t(&v->value.v_oid) * 1000;
    else
        return err_set(e, ERR_TYPE_MISMATCH, "%s: can't convert from BSON type %s to Date", op,
                       agg_val_type_name(v));
    return 0;
}

/* Evaluates the date argument (plain expression, [expr], or {date, timezone})
 * into local ms; returns 1 when the date is null/missing. */
static int eval_date_arg(const char *op, const bson_value_t *arg, const struct agg_ctx *c, int64_t *ms,
                         struct err *e)
{
    bson_value_t date_expr = *arg, tz_expr, date, tz;
    agg_val_missing(&tz_expr);
    if (arg->value_type == BSON_TYPE_DOCUMENT) {
        bson_iter_t it;
        if (bson_iter_init_from_data(&it, arg->value.v_doc.data, arg->value.v_doc.data_len) && bson_iter_next(&it) &&
            bson_iter_key(&it)[0] != '$') {
            static const char *const names[] = {"date", "timezone", NULL};
            bson_value_t a[2];
            int rc = agg_named_args(op, arg, names, a, e);
            if (rc < 0)
                return rc;
            if (agg_val_is_missing(&a[0]))
                return err_set(e, ERR_FAILED_TO_PARSE, "%s: missing 'date' argument", op);
            date_expr = a[0];
            tz_expr = a[1];
        }
    } else if (arg->value_type == BSON_TYPE_ARRAY) {
        struct agg_vals raw;
        agg_args_raw(arg, &raw);
        if (raw.n != 1) {
            int n = (int)raw.n;
            agg_vals_free(&raw);
            return err_set(e, 16020, "Expression %s takes exactly 1 arguments. %d were passed in.", op,
                           n);
        }
        date_expr = raw.v[0];
        agg_vals_free(&raw);
    }
    int rc = agg_expr_eval(&date_expr, c, &date, e);
    if (rc < 0)
        return rc;
    rc = agg_expr_eval(&tz_expr, c, &tz, e);
    if (rc == 0 && (agg_val_is_nullish(&date) || (!agg_val_is_missing(&tz_expr) && agg_val_is_nullish(&tz))))
        rc = 1;
    int64_t offset = 0;
    if (rc == 0)
        rc = value_to_ms(op, &date, ms, e);
    if (rc == 0)
        rc = parse_timezone(&tz, &offset, e);
    if (rc == 0)
        *ms += offset;
    bson_value_destroy(&date);
    bson_value_destroy(&tz);
    return rc;
}

static int iso_weeks_in_year(int64_t y)
{
    /* 53 weeks when Jan 1 is a Thursday, or a Wednesday in a leap year */
    int64_t d = agg_days_from_civil(y, 1, 1);
    int64_t wd = ((d + 4) % 7 + 7) % 7; /* 0 = Sunday */
    return (wd == 4 || (wd == 3 && is_leap(y))) ? 53 : 52;
}

static void iso_week(const struct agg_date_parts *p, int *week, int *week_year, int *iso_dow)
{
    int wd = p->day_of_week - 1; /* 0 = Sunday */
    *iso_dow = wd == 0 ? 7 : wd;
    int w = (p->day_of_year - *iso_dow + 10) / 7;
    *week_year = p->year;
    if (w < 1) {
        *week_year = p->year - 1;
        w = iso_weeks_in_year(p->year - 1);
    } else if (w > iso_weeks_in_year(p->year)) {
        *week_year = p->year + 1;
        w = 1;
    }
    *week = w;
}

static int op_date_part(const char *op, const bson_value_t *arg, const struct agg_ctx *c, bson_value_t *out,
                        struct err *e)
{
    int64_t ms;
    int rc = eval_date_arg(op, arg, c, &ms, e);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        agg_val_null(out);
        return 0;
    }
    struct agg_date_parts p;
    int week, week_year, iso_dow, v;
    agg_date_split(ms, &p);
    iso_week(&p, &week, &week_year, &iso_dow);
    if (strcmp(op, "$year") == 0) v = p.year;
    else if (strcmp(op, "$month") == 0) v = p.month;
    else if (strcmp(op, "$dayOfMonth") == 0) v = p.day;
    else if (strcmp(op, "$hour") == 0) v = p.hour;
    else if (strcmp(op, "$minute") == 0) v = p.minute;
    else if (strcmp(op, "$second") == 0) v = p.second;
    else if (strcmp(op, "$millisecond") == 0) v = p.millis;
    else if (strcmp(op, "$dayOfWeek") == 0) v = p.day_of_week;
    else if (strcmp(op, "$dayOfYear") == 0) v = p.day_of_year;
    else if (strcmp(op, "$week") == 0) v = (p.day_of_year - 1 + 7 - (p.day_of_week - 1)) / 7;
    else if (strcmp(op, "$isoWeek") == 0) v = week;
    else if (strcmp(op, "$isoWeekYear") == 0) v = week_year;
    else v = iso_dow;
    if (strcmp(op, "$isoWeekYear") == 0)
        agg_val_int64(out, v);
    else
        agg_val_int32(out, v);
    return 0;
}

static int format_date(const char *op, const char *fmt, int64_t ms, int64_t offset_ms, bson_value_t *out,
                       struct err *e)
{
    struct agg_date_parts p;
    int week, week_year, iso_dow;
    char buf[4096];
    size_t pos = 0;
    agg_date_split(ms, &p);
    iso_week(&p, &week, &week_year, &iso_dow);
    for (const char *f = fmt; *f; f++) {
        char piece[32];
        if (*f != '%') {
            piece[0] = *f;
            piece[1] = '\0';
        } else {
            f++;
            int off_min = (int)(offset_ms / 60000);
            switch (*f) {
            case 'd': snprintf(piece, sizeof piece, "%02d", p.day); break;
            case 'G': snprintf(piece, sizeof piece, "%04d", week_year); break;
            case 'H': snprintf(piece, sizeof piece, "%02d", p.hour); break;
            case 'j': snprintf(piece, sizeof piece, "%03d", p.day_of_year); break;
            case 'L': snprintf(piece, sizeof piece, "%03d", p.millis); break;
            case 'm': snprintf(piece, sizeof piece, "%02d", p.month); break;
            case 'M': snprintf(piece, sizeof piece, "%02d", p.minute); break;
            case 'S': snprintf(piece, sizeof piece, "%02d", p.second); break;
            case 'w': snprintf(piece, sizeof piece, "%d", p.day_of_week); break;
            case 'u': snprintf(piece, sizeof piece, "%d", iso_dow); break;
            case 'U':
                snprintf(piece, sizeof piece, "%02d", (p.day_of_year - 1 + 7 - (p.day_of_week - 1)) / 7);
                break;
            case 'V': snprintf(piece, sizeof piece, "%02d", week); break;
            case 'Y': snprintf(piece, sizeof piece, "%04d", p.year); break;
            case 'z':
                snprintf(piece, sizeof piece, "%c%02d%02d", off_min < 0 ? '-' : '+', abs(off_min) / 60,
                         abs(off_min) % 60);
                break;
            case 'Z': snprintf(piece, sizeof piece, "%+d", off_min); break;
            case '%': snprintf(piece, sizeof piece, "%%"); break;
            case '\0':
                return err_set(e, ERR_FAILED_TO_PARSE, "%s: Unmatched '%%' at end of format string", op);
            default:
                return err_set(e, ERR_FAILED_TO_PARSE, "%s: Invalid format character '%%%c' in format string", op,
                               *f);
            }
        }
        size_t l = strlen(piece);
        if (pos + l >= sizeof buf)
            return err_set(e, ERR_BAD_VALUE, "%s: formatted date is too long", op);
        memcpy(buf + pos, piece, l);
        pos += l;
    }
    agg_val_utf8(out, buf, pos);
    return 0;
}

static int op_date_to_string(const char *op, const bson_value_t *arg, const struct agg_ctx *c, bson_value_t *out,
                             struct err *e)
{
    static const char *const names[] = {"date", "format", "timezone", "onNull", NULL};
    bson_value_t a[4], date, fmt, tz;
    int64_t ms, offset;
    int rc = agg_named_args(op, arg, names, a, e);
    if (rc < 0)
        return rc;
    if (agg_val_is_missing(&a[0]))
        return err_set(e, ERR_FAILED_TO_PARSE, "Missing 'date' parameter to %s", op);
    rc = agg_expr_eval(&a[0], c, &date, e);
    if (rc < 0)
        return rc;
    agg_val_missing(&fmt);
    agg_val_missing(&tz);
    rc = agg_expr_eval(&a[1], c, &fmt, e);
    if (rc == 0)
        rc = agg_expr_eval(&a[2], c, &tz, e);
    if (rc < 0)
        goto done;
    if (agg_val_is_nullish(&date)) {
        if (!agg_val_is_missing(&a[3]))
            rc = agg_expr_eval(&a[3], c, out, e);
        else
            agg_val_null(out);
        goto done;
    }
    if ((!agg_val_is_missing(&a[1]) && agg_val_is_nullish(&fmt)) ||
        (!agg_val_is_missing(&a[2]) && agg_val_is_nullish(&tz))) {
        agg_val_null(out);
        goto done;
    }
    if (!agg_val_is_missing(&fmt) && fmt.value_type != BSON_TYPE_UTF8) {
        rc = err_set(e, ERR_FAILED_TO_PARSE, "%s requires that 'format' be a string, found: %s", op,
                     agg_val_type_name(&fmt));
        goto done;
    }
    rc = value_to_ms(op, &date, &ms, e);
    if (rc == 0)
        rc = parse_timezone(&tz, &offset, e);
    if (rc == 0) {
        const char *f = !agg_val_is_missing(&fmt)  ? fmt.value.v_utf8.str
                        : agg_val_is_missing(&tz) ? "%Y-%m-%dT%H:%M:%S.%LZ"
                                                  : "%Y-%m-%dT%H:%M:%S.%L";
        rc = format_date(op, f, ms + offset, offset, out, e);
    }
done:
    bson_value_destroy(&date);
    bson_value_destroy(&fmt);
    bson_value_destroy(&tz);
    return rc;
}

static int op_date_from_string(const char *op, const bson_value_t *arg, const struct agg_ctx *c,
                               bson_value_t *out, struct err *e)
{
    static const char *const names[] = {"dateString", "format", "timezone", "onError", "onNull", NULL};
    bson_value_t a[5], s, tz;
    int64_t ms, offset;
    int rc = agg_named_args(op, arg, names, a, e);
    if (rc < 0)
        return rc;
    if (agg_val_is_missing(&a[0]))
        return err_set(e, ERR_FAILED_TO_PARSE, "Missing 'dateString' parameter to %s", op);
    rc = agg_expr_eval(&a[0], c, &s, e);
    if (rc < 0)
        return rc;
    rc = agg_expr_eval(&a[2], c, &tz, e);
    if (rc == 0 && agg_val_is_nullish(&s)) {
        if (!agg_val_is_missing(&a[4]))
            rc = agg_expr_eval(&a[4], c, out, e);
        else
            agg_val_null(out);
    } else if (rc == 0) {
        rc = parse_timezone(&tz, &offset, e);
        if (rc == 0 && (s.value_type != BSON_TYPE_UTF8 || !agg_date_parse_iso(s.value.v_utf8.str, &ms))) {
            if (!agg_val_is_missing(&a[3]))
                rc = agg_expr_eval(&a[3], c, out, e);
            else if (s.value_type != BSON_TYPE_UTF8)
                rc = err_set(e, AGG_ERR_CONVERSION_FAILURE, "%s requires that 'dateString' be a string, found: %s",
                             op, agg_val_type_name(&s));
            else
                rc = err_set(e, AGG_ERR_CONVERSION_FAILURE, "Error parsing date string '%s'", s.value.v_utf8.str);
        } else if (rc == 0) {
            agg_val_date(out, ms - offset);
        }
    }
    bson_value_destroy(&s);
    bson_value_destroy(&tz);
    return rc;
}

static int op_date_from_parts(const char *op, const bson_value_t *arg, const struct agg_ctx *c,
                              bson_value_t *out, struct err *e)
{
    static const char *const names[] = {"year", "month", "day", "hour", "minute", "second", "millisecond",
                                        "timezone", NULL};
    static const int64_t defaults[] = {1970, 1, 1, 0, 0, 0, 0};
    bson_value_t a[8], tz;
    int64_t parts[7], offset;
    int rc = agg_named_args(op, arg, names, a, e);
    if (rc < 0)
        return rc;
    if (agg_val_is_missing(&a[0]))
        return err_set(e, ERR_FAILED_TO_PARSE, "%s requires 'year' to be present", op);
    for (int i = 0; i < 7; i++) {
        bson_value_t v;
        parts[i] = defaults[i];
        rc = agg_expr_eval(&a[i], c, &v, e);
        if (rc < 0)
            return rc;
        if (!agg_val_is_missing(&a[i]) && agg_val_is_nullish(&v)) {
            agg_val_null(out);
            return 0;
        }
        if (!agg_val_is_missing(&v) && !agg_val_to_int64_exact(&v, &parts[i]))
            rc = err_set(e, ERR_BAD_VALUE, "'%s' must evaluate to an integer, found %s with value", names[i],
                         agg_val_type_name(&v));
        bson_value_destroy(&v);
        if (rc < 0)
            return rc;
    }
    if (parts[0] < 1 || parts[0] > 9999)
        return err_set(e, ERR_BAD_VALUE, "'year' must evaluate to an integer in the range 1 to 9999, found %lld",
                       (long long)parts[0]);
    rc = agg_expr_eval(&a[7], c, &tz, e);
    if (rc < 0)
        return rc;
    rc = parse_timezone(&tz, &offset, e);
    bson_value_destroy(&tz);
    if (rc < 0)
        return rc;
    /* Months outside 1..12 carry into years, as mongod allows. */
    int64_t m0 = parts[1] - 1, y = parts[0] + floor_div(m0, 12);
    int64_t m = m0 - floor_div(m0, 12) * 12 + 1;
    int64_t days = agg_days_from_civil(y, m, 1) + parts[2] - 1;
    agg_val_date(out, days * MS_PER_DAY + parts[3] * 3600000 + parts[4] * 60000 + parts[5] * 1000 + parts[6] -
                          offset);
    return 0;
}

const struct agg_op agg_ops_date[] = {
    {"$dateFromParts", NULL, op_date_from_parts, 0, -1},
    {"$dateFromString", NULL, op_date_from_string, 0, -1},
    {"$dateToString", NULL, op_date_to_string, 0, -1},
    {"$dayOfMonth", NULL, op_date_part, 0, -1},
    {"$dayOfWeek", NULL, op_date_part, 0, -1},
    {"$dayOfYear", NULL, op_date_part, 0, -1},
    {"$hour", NULL, op_date_part, 0, -1},
    {"$isoDayOfWeek", NULL, op_date_part, 0, -1},
    {"$isoWeek", NULL, op_date_part, 0, -1},
    {"$isoWeekYear", NULL, op_date_part, 0, -1},
    {"$millisecond", NULL, op_date_part, 0, -1},
    {"$minute", NULL, op_date_part, 0, -1},
    {"$month", NULL, op_date_part, 0, -1},
    {"$second", NULL, op_date_part, 0, -1},
    {"$week", NULL, op_date_part, 0, -1},
    {"$year", NULL, op_date_part, 0, -1},
    {NULL, NULL, NULL, 0, 0},
};
