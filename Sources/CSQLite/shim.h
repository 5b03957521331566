// SQLite, for the search's trial store (Debian's libsqlite3-dev).
#include <sqlite3.h>
