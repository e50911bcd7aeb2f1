/* test_config.c - command-line flags, the YAML file, overrides and errors. */
#include "testhelp.h"

#include "core/config.h"

#include <stdio.h>

static int parse(struct config *cfg, struct err *e, int argc, char **argv)
{
    err_init(e);
    return config_parse(cfg, argc, argv, e);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

TEST(defaults_apply_without_flags)
{
    struct config cfg;
    struct err e;
    char *argv[] = {"tallyd"};

    CHECK_EQ_INT(parse(&cfg, &e, 1, argv), 0);
    CHECK_EQ_STR(cfg.dbpath, "./data/db");
    CHECK_EQ_STR(cfg.bind_ip, "127.0.0.1");
    CHECK_EQ_INT(cfg.port, 27017);
    CHECK_EQ_INT(cfg.map_size_mb, 65536);
    CHECK(cfg.log_path == NULL && cfg.repl_set == NULL);
    CHECK(!cfg.enable_test_commands && !cfg.is_quiet && !cfg.is_verbose);
    config_destroy(&cfg);
}

TEST(flags_in_both_forms_are_parsed)
{
    struct config cfg;
    struct err e;
    char *argv[] = {"tallyd", "--dbpath", "/tmp/x", "--port=12345", "--bind_ip", "127.0.0.1,::1", "--logpath=/tmp/l",
                    "--replSet", "rs0", "--quiet", "-vv", "--setParameter", "enableTestCommands=1",
                    "--mapSizeMB=128"};
    bson_iter_t it;

    CHECK_EQ_INT(parse(&cfg, &e, 14, argv), 0);
    CHECK_EQ_STR(cfg.dbpath, "/tmp/x");
    CHECK_EQ_INT(cfg.port, 12345);
    CHECK_EQ_STR(cfg.bind_ip, "127.0.0.1,::1");
    CHECK_EQ_STR(cfg.log_path, "/tmp/l");
    CHECK_EQ_STR(cfg.repl_set, "rs0");
    CHECK(cfg.is_quiet && cfg.is_verbose && cfg.enable_test_commands);
    CHECK_EQ_INT(cfg.map_size_mb, 128);
    CHECK_EQ_INT(bson_count_keys(&cfg.argv), 14);
    CHECK(bson_iter_init(&it, &cfg.parsed) && bson_iter_find_descendant(&it, "net.port", &it));
    CHECK_EQ_INT(bson_iter_int32(&it), 12345);
    CHECK(bson_iter_init(&it, &cfg.parsed) && bson_iter_find_descendant(&it, "replication.replSetName", &it));
    config_destroy(&cfg);
}

TEST(yaml_file_sets_options_and_flags_override_it)
{
    struct config cfg;
    struct err e;
    char path[300];
    char *argv[] = {"tallyd", "--config", path, "--port", "4000"};

    snprintf(path, sizeof path, "%s/mongod.conf", test_dir);
    write_file(path, "storage:\n  dbPath: /data/a\n  mapSizeMB: 256\nnet:\n  port: 3000\n  bindIp: 127.0.0.1\n"
                     "systemLog:\n  destination: file\n  path: /tmp/t.log\nreplication:\n  replSetName: rsX\n"
                     "setParameter:\n  enableTestCommands: 1\n");
    CHECK_EQ_INT(parse(&cfg, &e, 5, argv), 0);
    CHECK_EQ_STR(cfg.dbpath, "/data/a");
    CHECK_EQ_INT(cfg.port, 4000);
    CHECK_EQ_INT(cfg.map_size_mb, 256);
    CHECK_EQ_STR(cfg.log_path, "/tmp/t.log");
    CHECK_EQ_STR(cfg.repl_set, "rsX");
    CHECK(cfg.enable_test_commands);
    CHECK_EQ_STR(cfg.config_path, path);
    config_destroy(&cfg);
}

TEST(yaml_bind_ip_list_is_joined)
{
    struct config cfg;
    struct err e;
    char path[300];
    char *argv[] = {"tallyd", "-f", path};

    snprintf(path, sizeof path, "%s/c.yaml", test_dir);
    write_file(path, "net:\n  bindIp: [127.0.0.1, \"::1\"]\n");
    CHECK_EQ_INT(parse(&cfg, &e, 3, argv), 0);
    CHECK_EQ_STR(cfg.bind_ip, "127.0.0.1,::1");
    config_destroy(&cfg);
}

TEST(unknown_yaml_key_is_an_error_naming_it)
{
    struct config cfg;
    struct err e;
    char path[300];
    char *argv[] = {"tallyd", "--config", path};

    snprintf(path, sizeof path, "%s/c.yaml", test_dir);
    write_file(path, "net:\n  port: 1\n  bogusKey: 2\n");
    CHECK(parse(&cfg, &e, 3, argv) < 0);
    CHECK(strstr(e.msg, "net.bogusKey") != NULL);
    config_destroy(&cfg);
}

TEST(bad_yaml_values_and_syntax_are_errors)
{
    struct config cfg;
    struct err e;
    char path[300];
    char *argv[] = {"tallyd", "--config", path};

    snprintf(path, sizeof path, "%s/c.yaml", test_dir);
    write_file(path, "net:\n  port: notaport\n");
    CHECK(parse(&cfg, &e, 3, argv) < 0);
    CHECK(strstr(e.msg, "net.port") != NULL);
    config_destroy(&cfg);
    write_file(path, "net: [unclosed\n");
    CHECK(parse(&cfg, &e, 3, argv) < 0);
    CHECK(strstr(e.msg, "YAML") != NULL);
    config_destroy(&cfg);
    write_file(path, "systemLog:\n  destination: syslog\n");
    CHECK(parse(&cfg, &e, 3, argv) < 0);
    config_destroy(&cfg);
    write_file(path, "setParameter:\n  noSuchParam: 1\n");
    CHECK(parse(&cfg, &e, 3, argv) < 0);
    CHECK(strstr(e.msg, "noSuchParam") != NULL);
    config_destroy(&cfg);
}

TEST(missing_config_file_is_an_error)
{
    struct config cfg;
    struct err e;
    char *argv[] = {"tallyd", "--config", "/nonexistent/x.conf"};

    CHECK(parse(&cfg, &e, 3, argv) < 0);
    CHECK(strstr(e.msg, "/nonexistent/x.conf") != NULL);
    config_destroy(&cfg);
}

TEST(unknown_flags_and_bad_values_are_errors_naming_them)
{
    struct config cfg;
    struct err e;
    char *a1[] = {"tallyd", "--frobnicate"};
    char *a2[] = {"tallyd", "--port", "70000"};
    char *a3[] = {"tallyd", "--port"};
    char *a4[] = {"tallyd", "--setParameter", "bogus=1"};
    char *a5[] = {"tallyd", "--setParameter", "novalue"};
    char *a6[] = {"tallyd", "--quiet=yes"};
    char *a7[] = {"tallyd", "stray"};
    char *a8[] = {"tallyd", "--port", "12x"};

    CHECK(parse(&cfg, &e, 2, a1) < 0 && strstr(e.msg, "--frobnicate"));
    config_destroy(&cfg);
    CHECK(parse(&cfg, &e, 3, a2) < 0 && strstr(e.msg, "--port"));
    config_destroy(&cfg);
    CHECK(parse(&cfg, &e, 2, a3) < 0 && strstr(e.msg, "requires a value"));
    config_destroy(&cfg);
    CHECK(parse(&cfg, &e, 3, a4) < 0 && strstr(e.msg, "bogus"));
    config_destroy(&cfg);
    CHECK(parse(&cfg, &e, 3, a5) < 0);
    config_destroy(&cfg);
    CHECK(parse(&cfg, &e, 2, a6) < 0);
    config_destroy(&cfg);
    CHECK(parse(&cfg, &e, 2, a7) < 0 && strstr(e.msg, "stray"));
    config_destroy(&cfg);
    CHECK(parse(&cfg, &e, 3, a8) < 0);
    config_destroy(&cfg);
}

TEST(help_and_version_return_1)
{
    struct config cfg;
    struct err e;
    char *a1[] = {"tallyd", "--help"};
    char *a2[] = {"tallyd", "--version"};

    CHECK_EQ_INT(parse(&cfg, &e, 2, a1), 1);
    config_destroy(&cfg);
    CHECK_EQ_INT(parse(&cfg, &e, 2, a2), 1);
    config_destroy(&cfg);
}

int main(void)
{
    RUN(defaults_apply_without_flags);
    RUN(flags_in_both_forms_are_parsed);
    RUN(yaml_file_sets_options_and_flags_override_it);
    RUN(yaml_bind_ip_list_is_joined);
    RUN(unknown_yaml_key_is_an_error_naming_it);
    RUN(bad_yaml_values_and_syntax_are_errors);
    RUN(missing_config_file_is_an_error);
    RUN(unknown_flags_and_bad_values_are_errors_naming_them);
    RUN(help_and_version_return_1);
    return test_report();
}
