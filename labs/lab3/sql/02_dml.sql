-- Sample rows for tododb.todo. Load them on the MASTER once the slaves are
-- replicating; the slaves receive them through replication.

USE tododb;

INSERT INTO todo (title, content, status, created, updated) VALUES
    ('Build the tododb image',
     'docker build -t tododb . then tag and push it to manager:5000',
     'DONE', NOW(), NOW()),
    ('Deploy the todo_mysql stack',
     'One master and two slaves on the todoapp overlay network',
     'PROGRESS', NOW(), NOW()),
    ('복제 확인하기',
     '마스터에 넣은 행이 슬레이브에서도 보이는지 확인한다',
     'TODO', NOW(), NOW()),
    ('Write the todo API',
     'The API writes to todo_mysql_master and reads from todo_mysql_slave',
     'TODO', NOW(), NOW());
