/* The catalog service's tables (store/migrate.h). Append only: never edit
 * a step that has shipped, add one. `legacy`: the step of the old single
 * list of migrations that held it (0 for steps added since). */
#include "store/migrate.h"

const sf_db_step sf_catalog_migrations[] = {
    /* categories and products, with full-text search of products (FTS5) */
    {"CREATE TABLE categories("
     "  id TEXT PRIMARY KEY,"
     "  name TEXT NOT NULL UNIQUE,"
     "  description TEXT NOT NULL DEFAULT '',"
     "  version INTEGER NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL);"
     /* seq: a stable rowid for the external-content FTS index (VACUUM may
     * renumber implicit rowids) */
     "CREATE TABLE products("
     "  seq INTEGER PRIMARY KEY,"
     "  id TEXT NOT NULL UNIQUE,"
     "  sku TEXT NOT NULL UNIQUE,"
     "  name TEXT NOT NULL,"
     "  description TEXT NOT NULL DEFAULT '',"
     "  price INTEGER NOT NULL CHECK(price >= 0),"
     "  currency TEXT NOT NULL,"
     "  attributes TEXT NOT NULL DEFAULT '{}',"
     "  status TEXT NOT NULL,"
     "  category_id TEXT REFERENCES categories(id),"
     "  version INTEGER NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL);"
     "CREATE INDEX products_status ON products(status, seq);"
     "CREATE INDEX products_category ON products(category_id, seq);"
     "CREATE VIRTUAL TABLE products_fts USING fts5(name, description, sku,"
     "  content='products', content_rowid='seq');"
     "CREATE TRIGGER products_fts_ai AFTER INSERT ON products BEGIN"
     "  INSERT INTO products_fts(rowid, name, description, sku)"
     "  VALUES(new.seq, new.name, new.description, new.sku); END;"
     "CREATE TRIGGER products_fts_ad AFTER DELETE ON products BEGIN"
     "  INSERT INTO products_fts(products_fts, rowid, name, description, sku)"
     "  VALUES('delete', old.seq, old.name, old.description, old.sku); END;"
     "CREATE TRIGGER products_fts_au AFTER UPDATE OF name, description, sku ON products BEGIN"
     "  INSERT INTO products_fts(products_fts, rowid, name, description, sku)"
     "  VALUES('delete', old.seq, old.name, old.description, old.sku);"
     "  INSERT INTO products_fts(rowid, name, description, sku)"
     "  VALUES(new.seq, new.name, new.description, new.sku); END;",
     2},
    {0},
};
