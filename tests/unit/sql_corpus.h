/* Every SQL statement written in src/, collected at build time by
 * scripts/sql_corpus.py (the generated sql_corpus.c). */
#ifndef SF_TESTS_SQL_CORPUS_H
#define SF_TESTS_SQL_CORPUS_H

struct sf_sql_site {
  const char *file;
  int line;
  const char *sql;
  const char *dialect; /* "" both backends run it, "sqlite" or "pg" only that one */
};
extern const struct sf_sql_site sf_sql_corpus[];
extern const int sf_sql_corpus_n;

#endif
