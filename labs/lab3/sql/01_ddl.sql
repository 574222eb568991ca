-- tododb schema. Applied on every fresh server (master and slaves) from
-- /docker-entrypoint-initdb.d, before replication starts. init-data.sh runs
-- it again on the master with the sample rows: IF NOT EXISTS makes that a
-- no-op, there and on the slaves it replicates to.

CREATE DATABASE IF NOT EXISTS tododb
    DEFAULT CHARACTER SET utf8mb4
    DEFAULT COLLATE utf8mb4_general_ci;

USE tododb;

CREATE TABLE IF NOT EXISTS todo (
    id      INT UNSIGNED NOT NULL AUTO_INCREMENT,
    -- 188 utf8mb4 characters = 752 bytes: fits the 767-byte index key limit of
    -- older InnoDB row formats, should title ever be indexed.
    title   VARCHAR(188) NOT NULL,
    content TEXT,
    status  ENUM('TODO', 'PROGRESS', 'DONE') NOT NULL DEFAULT 'TODO',
    created DATETIME NOT NULL,
    updated DATETIME NOT NULL,
    PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
