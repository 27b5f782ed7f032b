#!/usr/bin/env python3
"""Writes the spider-mini sample: a Spider-format folder with 3 small SQLite databases and 150 questions.

Licence-clean: the databases, their rows and every question are written here. Deterministic, no dependencies.
Layout (as Spider's): tables.json, train.json, dev.json, database/<db_id>/<db_id>.sqlite.
Each question carries "language" ("en" or "de"); the pipeline's spider task reads it for its lang: slices.
Splits: train.json (80) holds library and school questions; dev.json (70) holds the rest of those two and every
shop question, a database the policy never sees in training (as Spider's dev set).
Run from anywhere: python3 samples/spider-mini/generate.py
"""
import json
import os
import sqlite3

HERE = os.path.dirname(os.path.abspath(__file__))

# db -> list of (table, [(column, spider type, sql type)], primary key column or None, [(column, ref table, ref column)], rows)
DATABASES = {
    "library": [
        ("author", [("author_id", "number", "INTEGER"), ("name", "text", "TEXT"), ("country", "text", "TEXT"),
                    ("birth_year", "number", "INTEGER")], "author_id", [],
         [(1, "Mara Lind", "Sweden", 1931), (2, "Oskar Brenn", "Germany", 1948), (3, "Ines Vale", "Portugal", 1962),
          (4, "Tom Reed", "England", 1975), (5, "Lea Hart", "Germany", 1980), (6, "Nils Berg", "Sweden", 1990)]),
        ("book", [("book_id", "number", "INTEGER"), ("title", "text", "TEXT"), ("author_id", "number", "INTEGER"),
                  ("year", "number", "INTEGER"), ("pages", "number", "INTEGER"), ("genre", "text", "TEXT")], "book_id",
         [("author_id", "author", "author_id")],
         [(1, "Cold Harbour", 1, 1958, 320, "crime"), (2, "The Glass Field", 1, 1966, 210, "poetry"),
          (3, "River Without End", 2, 1979, 450, "novel"), (4, "Night Train", 2, 1985, 280, "crime"),
          (5, "Salt and Stone", 3, 1999, 390, "novel"), (6, "Blue Hours", 3, 2004, 150, "poetry"),
          (7, "The Last Signal", 4, 2010, 510, "science"), (8, "Small Wonders", 4, 2015, 240, "science"),
          (9, "Quiet Streets", 5, 2018, 300, "crime"), (10, "Northern Lights", 5, 2021, 180, "novel")]),
        ("loan", [("loan_id", "number", "INTEGER"), ("book_id", "number", "INTEGER"), ("member", "text", "TEXT"),
                  ("loan_date", "time", "TEXT"), ("returned", "number", "INTEGER")], "loan_id",
         [("book_id", "book", "book_id")],
         [(1, 1, "Alice", "2024-01-05", 1), (2, 3, "Bruno", "2024-01-09", 1), (3, 3, "Alice", "2024-02-11", 0),
          (4, 5, "Chen", "2024-02-20", 1), (5, 7, "Dana", "2024-03-02", 0), (6, 7, "Bruno", "2024-03-15", 1),
          (7, 9, "Chen", "2024-04-01", 0), (8, 10, "Alice", "2024-04-18", 1)]),
    ],
    "school": [
        ("teacher", [("teacher_id", "number", "INTEGER"), ("name", "text", "TEXT"), ("subject", "text", "TEXT"),
                     ("salary", "number", "INTEGER")], "teacher_id", [],
         [(1, "Ruth Kane", "math", 52000), (2, "Paul Ortiz", "physics", 56000), (3, "Anna Weber", "history", 48000),
          (4, "Jon Price", "math", 61000), (5, "Eva Novak", "art", 45000)]),
        ("student", [("student_id", "number", "INTEGER"), ("name", "text", "TEXT"), ("grade", "number", "INTEGER"),
                     ("city", "text", "TEXT")], "student_id", [],
         [(1, "Lena", 9, "Bonn"), (2, "Max", 10, "Bonn"), (3, "Sofia", 11, "Leeds"), (4, "Tim", 9, "Leeds"),
          (5, "Yara", 12, "Porto"), (6, "Ole", 10, "Porto"), (7, "Mia", 11, "Bonn"), (8, "Nora", 12, "Bonn")]),
        ("course", [("course_id", "number", "INTEGER"), ("title", "text", "TEXT"), ("teacher_id", "number", "INTEGER"),
                    ("credits", "number", "INTEGER")], "course_id", [("teacher_id", "teacher", "teacher_id")],
         [(1, "Algebra", 1, 4), (2, "Mechanics", 2, 5), (3, "Modern History", 3, 3), (4, "Geometry", 4, 4),
          (5, "Drawing", 5, 2), (6, "Statistics", 1, 3)]),
        ("enrollment", [("student_id", "number", "INTEGER"), ("course_id", "number", "INTEGER"),
                        ("score", "number", "INTEGER")], None,
         [("student_id", "student", "student_id"), ("course_id", "course", "course_id")],
         [(1, 1, 88), (1, 3, 75), (2, 2, 91), (2, 4, 67), (3, 1, 79), (3, 5, 95), (4, 6, 58), (5, 2, 84),
          (5, 3, 90), (6, 4, 72), (7, 1, 99), (7, 6, 81)]),
    ],
    "shop": [
        ("customer", [("customer_id", "number", "INTEGER"), ("name", "text", "TEXT"), ("city", "text", "TEXT")],
         "customer_id", [],
         [(1, "Hana Ito", "Berlin"), (2, "Luis Mora", "Madrid"), (3, "Kim Olsen", "Oslo"), (4, "Rita Sousa", "Madrid"),
          (5, "Paul Frey", "Berlin")]),
        ("product", [("product_id", "number", "INTEGER"), ("name", "text", "TEXT"), ("category", "text", "TEXT"),
                     ("price", "number", "REAL")], "product_id", [],
         [(1, "Desk Lamp", "home", 24.5), (2, "Tea Pot", "kitchen", 18.0), (3, "Notebook", "office", 3.5),
          (4, "Chair", "home", 79.0), (5, "Kettle", "kitchen", 32.0), (6, "Stapler", "office", 7.25)]),
        ("orders", [("order_id", "number", "INTEGER"), ("customer_id", "number", "INTEGER"),
                    ("order_date", "time", "TEXT")], "order_id", [("customer_id", "customer", "customer_id")],
         [(1, 1, "2024-05-02"), (2, 2, "2024-05-03"), (3, 1, "2024-05-10"), (4, 3, "2024-06-01"),
          (5, 4, "2024-06-07"), (6, 2, "2024-06-20")]),
        ("order_item", [("order_id", "number", "INTEGER"), ("product_id", "number", "INTEGER"),
                        ("quantity", "number", "INTEGER")], None,
         [("order_id", "orders", "order_id"), ("product_id", "product", "product_id")],
         [(1, 1, 2), (1, 3, 10), (2, 2, 1), (3, 4, 1), (3, 6, 3), (4, 5, 1), (4, 3, 5), (5, 1, 1), (6, 2, 2),
          (6, 5, 1)]),
    ],
}

# db -> [(english, german, gold SQL)]: 25 per database, easy to extra by Spider's rules.
QUESTIONS = {
    "library": [
        ("How many books are there?", "Wie viele Bücher gibt es?", "SELECT count(*) FROM book"),
        ("How many authors are there?", "Wie viele Autoren gibt es?", "SELECT count(*) FROM author"),
        ("List the titles of all crime books.", "Nenne die Titel aller Krimis.", "SELECT title FROM book WHERE genre = 'crime'"),
        ("List the titles of all poetry books.", "Nenne die Titel aller Gedichtbände.", "SELECT title FROM book WHERE genre = 'poetry'"),
        ("What are the names of authors from Germany?", "Wie heißen die Autoren aus Deutschland?", "SELECT name FROM author WHERE country = 'Germany'"),
        ("What are the names of authors from Sweden?", "Wie heißen die Autoren aus Schweden?", "SELECT name FROM author WHERE country = 'Sweden'"),
        ("What is the largest number of pages of any book?", "Wie viele Seiten hat das längste Buch?", "SELECT max(pages) FROM book"),
        ("Which books were published after 2010?", "Welche Bücher erschienen nach 2010?", "SELECT title FROM book WHERE year > 2010"),
        ("List the title and year of every book, newest first.", "Nenne Titel und Jahr jedes Buchs, das neueste zuerst.", "SELECT title, year FROM book ORDER BY year DESC"),
        ("How many books does each genre have?", "Wie viele Bücher hat jedes Genre?", "SELECT genre, count(*) FROM book GROUP BY genre"),
        ("What are the fewest and the most pages of a book?", "Was sind die wenigsten und die meisten Seiten eines Buchs?", "SELECT min(pages), max(pages) FROM book"),
        ("Which books were written by authors from Germany?", "Welche Bücher schrieben Autoren aus Deutschland?", "SELECT T1.title FROM book AS T1 JOIN author AS T2 ON T1.author_id = T2.author_id WHERE T2.country = 'Germany'"),
        ("Which books were written by authors from Portugal?", "Welche Bücher schrieben Autoren aus Portugal?", "SELECT T1.title FROM book AS T1 JOIN author AS T2 ON T1.author_id = T2.author_id WHERE T2.country = 'Portugal'"),
        ("List every author's name with the number of books they wrote.", "Nenne jeden Autor mit der Zahl seiner Bücher.", "SELECT T2.name, count(*) FROM book AS T1 JOIN author AS T2 ON T1.author_id = T2.author_id GROUP BY T1.author_id"),
        ("What is the title of the longest book?", "Wie heißt das Buch mit den meisten Seiten?", "SELECT title FROM book ORDER BY pages DESC LIMIT 1"),
        ("Which authors have no books?", "Welche Autoren haben keine Bücher?", "SELECT name FROM author WHERE author_id NOT IN (SELECT author_id FROM book)"),
        ("Which books have more pages than the average book?", "Welche Bücher haben mehr Seiten als der Durchschnitt?", "SELECT title FROM book WHERE pages > (SELECT avg(pages) FROM book)"),
        ("Which members borrowed a book by Oskar Brenn?", "Welche Mitglieder liehen ein Buch von Oskar Brenn?", "SELECT DISTINCT T1.member FROM loan AS T1 JOIN book AS T2 ON T1.book_id = T2.book_id JOIN author AS T3 ON T2.author_id = T3.author_id WHERE T3.name = 'Oskar Brenn'"),
        ("Which genres have books from before 1970 and books from after 2000?", "Welche Genres haben Bücher vor 1970 und Bücher nach 2000?", "SELECT genre FROM book WHERE year < 1970 INTERSECT SELECT genre FROM book WHERE year > 2000"),
        ("Which titles contain the word Night or have fewer than 200 pages?", "Welche Titel enthalten das Wort Night oder haben weniger als 200 Seiten?", "SELECT title FROM book WHERE title LIKE '%Night%' OR pages < 200"),
        ("Which author wrote the most books?", "Welcher Autor schrieb die meisten Bücher?", "SELECT T2.name FROM book AS T1 JOIN author AS T2 ON T1.author_id = T2.author_id GROUP BY T1.author_id ORDER BY count(*) DESC LIMIT 1"),
        ("What are the titles of the three longest books that are longer than average?", "Welche drei überdurchschnittlich langen Bücher sind die längsten?", "SELECT title FROM book WHERE pages > (SELECT avg(pages) FROM book) ORDER BY pages DESC LIMIT 3"),
        ("Which member has borrowed the most books?", "Welches Mitglied hat die meisten Bücher geliehen?", "SELECT member FROM loan GROUP BY member ORDER BY count(*) DESC LIMIT 1"),
        ("Which books have not been returned?", "Welche Bücher wurden nicht zurückgegeben?", "SELECT T2.title FROM loan AS T1 JOIN book AS T2 ON T1.book_id = T2.book_id WHERE T1.returned = 0"),
        ("Which countries have authors born before 1950 and authors born after 1970?", "Aus welchen Ländern stammen Autoren, die vor 1950 geboren sind, und Autoren, die nach 1970 geboren sind?", "SELECT country FROM author WHERE birth_year < 1950 INTERSECT SELECT country FROM author WHERE birth_year > 1970"),
    ],
    "school": [
        ("How many students are there?", "Wie viele Schüler gibt es?", "SELECT count(*) FROM student"),
        ("How many teachers are there?", "Wie viele Lehrer gibt es?", "SELECT count(*) FROM teacher"),
        ("What are the names of students in grade 9?", "Wie heißen die Schüler der Klasse 9?", "SELECT name FROM student WHERE grade = 9"),
        ("What are the names of students from Porto?", "Wie heißen die Schüler aus Porto?", "SELECT name FROM student WHERE city = 'Porto'"),
        ("Who teaches math?", "Wer unterrichtet Mathematik?", "SELECT name FROM teacher WHERE subject = 'math'"),
        ("What is the highest teacher salary?", "Wie hoch ist das höchste Lehrergehalt?", "SELECT max(salary) FROM teacher"),
        ("What is the average score over all enrollments?", "Wie hoch ist die durchschnittliche Punktzahl aller Belegungen?", "SELECT avg(score) FROM enrollment"),
        ("Which courses give more than 3 credits?", "Welche Kurse bringen mehr als 3 Punkte?", "SELECT title FROM course WHERE credits > 3"),
        ("List every teacher's name and salary, highest salary first.", "Nenne Name und Gehalt jedes Lehrers, das höchste Gehalt zuerst.", "SELECT name, salary FROM teacher ORDER BY salary DESC"),
        ("How many students live in each city?", "Wie viele Schüler wohnen in jeder Stadt?", "SELECT city, count(*) FROM student GROUP BY city"),
        ("What are the lowest and highest scores?", "Was sind die niedrigste und die höchste Punktzahl?", "SELECT min(score), max(score) FROM enrollment"),
        ("Which courses does Ruth Kane teach?", "Welche Kurse gibt Ruth Kane?", "SELECT T1.title FROM course AS T1 JOIN teacher AS T2 ON T1.teacher_id = T2.teacher_id WHERE T2.name = 'Ruth Kane'"),
        ("Which courses are taught by physics teachers?", "Welche Kurse geben Physiklehrer?", "SELECT T1.title FROM course AS T1 JOIN teacher AS T2 ON T1.teacher_id = T2.teacher_id WHERE T2.subject = 'physics'"),
        ("How many students are enrolled in each course? Give the course title and the count.", "Wie viele Schüler belegen jeden Kurs? Nenne Kurstitel und Anzahl.", "SELECT T2.title, count(*) FROM enrollment AS T1 JOIN course AS T2 ON T1.course_id = T2.course_id GROUP BY T1.course_id"),
        ("Who is the best-paid teacher?", "Welcher Lehrer verdient am meisten?", "SELECT name FROM teacher ORDER BY salary DESC LIMIT 1"),
        ("Which students are not enrolled in any course?", "Welche Schüler belegen keinen Kurs?", "SELECT name FROM student WHERE student_id NOT IN (SELECT student_id FROM enrollment)"),
        ("Which teachers earn more than the average salary?", "Welche Lehrer verdienen mehr als das Durchschnittsgehalt?", "SELECT name FROM teacher WHERE salary > (SELECT avg(salary) FROM teacher)"),
        ("Which students take a course taught by Paul Ortiz?", "Welche Schüler belegen einen Kurs von Paul Ortiz?", "SELECT DISTINCT T1.name FROM student AS T1 JOIN enrollment AS T2 ON T1.student_id = T2.student_id JOIN course AS T3 ON T2.course_id = T3.course_id JOIN teacher AS T4 ON T3.teacher_id = T4.teacher_id WHERE T4.name = 'Paul Ortiz'"),
        ("Which cities have students in grade 9 and students in grade 12?", "In welchen Städten gibt es Schüler der Klasse 9 und Schüler der Klasse 12?", "SELECT city FROM student WHERE grade = 9 INTERSECT SELECT city FROM student WHERE grade = 12"),
        ("Which students have a name starting with M or are in grade 12?", "Welche Schüler haben einen Namen, der mit M beginnt, oder sind in Klasse 12?", "SELECT name FROM student WHERE name LIKE 'M%' OR grade = 12"),
        ("Which course has the most students?", "Welcher Kurs hat die meisten Schüler?", "SELECT T2.title FROM enrollment AS T1 JOIN course AS T2 ON T1.course_id = T2.course_id GROUP BY T1.course_id ORDER BY count(*) DESC LIMIT 1"),
        ("Which student has the highest average score?", "Welcher Schüler hat den höchsten Punktedurchschnitt?", "SELECT T1.name FROM student AS T1 JOIN enrollment AS T2 ON T1.student_id = T2.student_id GROUP BY T1.student_id ORDER BY avg(T2.score) DESC LIMIT 1"),
        ("Which two teachers earn the most among those who earn more than average?", "Welche zwei überdurchschnittlich bezahlten Lehrer verdienen am meisten?", "SELECT name FROM teacher WHERE salary > (SELECT avg(salary) FROM teacher) ORDER BY salary DESC LIMIT 2"),
        ("Which students scored below 70 in some course?", "Welche Schüler erzielten in einem Kurs weniger als 70 Punkte?", "SELECT DISTINCT T1.name FROM student AS T1 JOIN enrollment AS T2 ON T1.student_id = T2.student_id WHERE T2.score < 70"),
        ("What is the total number of credits of the courses each teacher gives? Give the name and the total.", "Wie viele Punkte bringen die Kurse jedes Lehrers zusammen? Nenne Name und Summe.", "SELECT T2.name, sum(T1.credits) FROM course AS T1 JOIN teacher AS T2 ON T1.teacher_id = T2.teacher_id GROUP BY T1.teacher_id"),
    ],
    "shop": [
        ("How many customers are there?", "Wie viele Kunden gibt es?", "SELECT count(*) FROM customer"),
        ("How many products are there?", "Wie viele Produkte gibt es?", "SELECT count(*) FROM product"),
        ("What are the names of customers from Madrid?", "Wie heißen die Kunden aus Madrid?", "SELECT name FROM customer WHERE city = 'Madrid'"),
        ("What are the names of customers from Berlin?", "Wie heißen die Kunden aus Berlin?", "SELECT name FROM customer WHERE city = 'Berlin'"),
        ("Which products are in the kitchen category?", "Welche Produkte gehören zur Kategorie kitchen?", "SELECT name FROM product WHERE category = 'kitchen'"),
        ("What is the price of the most expensive product?", "Was kostet das teuerste Produkt?", "SELECT max(price) FROM product"),
        ("Which products cost less than 10?", "Welche Produkte kosten weniger als 10?", "SELECT name FROM product WHERE price < 10"),
        ("What is the average product price?", "Was ist der Durchschnittspreis der Produkte?", "SELECT avg(price) FROM product"),
        ("List every product's name and price, cheapest first.", "Nenne Name und Preis jedes Produkts, das billigste zuerst.", "SELECT name, price FROM product ORDER BY price"),
        ("How many products does each category have?", "Wie viele Produkte hat jede Kategorie?", "SELECT category, count(*) FROM product GROUP BY category"),
        ("What are the lowest and highest product prices?", "Was sind der niedrigste und der höchste Produktpreis?", "SELECT min(price), max(price) FROM product"),
        ("On which dates did Luis Mora order?", "An welchen Tagen bestellte Luis Mora?", "SELECT T1.order_date FROM orders AS T1 JOIN customer AS T2 ON T1.customer_id = T2.customer_id WHERE T2.name = 'Luis Mora'"),
        ("On which dates did customers from Berlin order?", "An welchen Tagen bestellten Kunden aus Berlin?", "SELECT T1.order_date FROM orders AS T1 JOIN customer AS T2 ON T1.customer_id = T2.customer_id WHERE T2.city = 'Berlin'"),
        ("How many orders did each customer place? Give the name and the count.", "Wie viele Bestellungen gab jeder Kunde auf? Nenne Name und Anzahl.", "SELECT T2.name, count(*) FROM orders AS T1 JOIN customer AS T2 ON T1.customer_id = T2.customer_id GROUP BY T1.customer_id"),
        ("What is the cheapest product?", "Welches Produkt ist am billigsten?", "SELECT name FROM product ORDER BY price LIMIT 1"),
        ("Which customers have never ordered?", "Welche Kunden haben nie bestellt?", "SELECT name FROM customer WHERE customer_id NOT IN (SELECT customer_id FROM orders)"),
        ("Which products cost more than the average product?", "Welche Produkte kosten mehr als der Durchschnitt?", "SELECT name FROM product WHERE price > (SELECT avg(price) FROM product)"),
        ("Which customers bought a kitchen product?", "Welche Kunden kauften ein Küchenprodukt?", "SELECT DISTINCT T1.name FROM customer AS T1 JOIN orders AS T2 ON T1.customer_id = T2.customer_id JOIN order_item AS T3 ON T2.order_id = T3.order_id JOIN product AS T4 ON T3.product_id = T4.product_id WHERE T4.category = 'kitchen'"),
        ("Which cities have customers who ordered in May 2024 and customers who ordered in June 2024?", "In welchen Städten gibt es Kunden mit Bestellungen im Mai 2024 und Kunden mit Bestellungen im Juni 2024?", "SELECT T1.city FROM customer AS T1 JOIN orders AS T2 ON T1.customer_id = T2.customer_id WHERE T2.order_date LIKE '2024-05%' INTERSECT SELECT T1.city FROM customer AS T1 JOIN orders AS T2 ON T1.customer_id = T2.customer_id WHERE T2.order_date LIKE '2024-06%'"),
        ("Which products have a name starting with T or cost more than 50?", "Welche Produkte haben einen Namen, der mit T beginnt, oder kosten mehr als 50?", "SELECT name FROM product WHERE name LIKE 'T%' OR price > 50"),
        ("Which product was ordered in the largest total quantity?", "Welches Produkt wurde in der größten Gesamtmenge bestellt?", "SELECT T2.name FROM order_item AS T1 JOIN product AS T2 ON T1.product_id = T2.product_id GROUP BY T1.product_id ORDER BY sum(T1.quantity) DESC LIMIT 1"),
        ("Which customer placed the most orders?", "Welcher Kunde gab die meisten Bestellungen auf?", "SELECT T2.name FROM orders AS T1 JOIN customer AS T2 ON T1.customer_id = T2.customer_id GROUP BY T1.customer_id ORDER BY count(*) DESC LIMIT 1"),
        ("What are the two most expensive products among those above the average price?", "Welche zwei überdurchschnittlich teuren Produkte sind die teuersten?", "SELECT name FROM product WHERE price > (SELECT avg(price) FROM product) ORDER BY price DESC LIMIT 2"),
        ("Which products were ordered in quantities of more than 2?", "Welche Produkte wurden in Mengen über 2 bestellt?", "SELECT DISTINCT T2.name FROM order_item AS T1 JOIN product AS T2 ON T1.product_id = T2.product_id WHERE T1.quantity > 2"),
        ("What is the total quantity ordered of each product? Give the name and the total.", "Welche Gesamtmenge wurde von jedem Produkt bestellt? Nenne Name und Summe.", "SELECT T2.name, sum(T1.quantity) FROM order_item AS T1 JOIN product AS T2 ON T1.product_id = T2.product_id GROUP BY T1.product_id"),
    ],
}


def write_database(db, tables):
    folder = os.path.join(HERE, "database", db)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, db + ".sqlite")
    if os.path.exists(path):
        os.remove(path)
    con = sqlite3.connect(path)
    for name, columns, pk, fks, rows in tables:
        parts = [f"{c} {t}" + (" PRIMARY KEY" if c == pk else "") for c, _, t in columns]
        parts += [f"FOREIGN KEY ({c}) REFERENCES {rt}({rc})" for c, rt, rc in fks]
        con.execute(f"CREATE TABLE {name} ({', '.join(parts)})")
        con.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' for _ in columns)})", rows)
    con.commit()
    con.execute("VACUUM")
    con.close()


def tables_entry(db, tables):
    """One tables.json entry as Spider writes it: column 0 is (-1, '*'), keys are column indices."""
    columns, types, pks, fks, index = [[-1, "*"]], ["text"], [], [], {}
    for t, (name, cols, pk, _, _) in enumerate(tables):
        for c, spider_type, _ in cols:
            index[(name, c)] = len(columns)
            columns.append([t, c])
            types.append(spider_type)
        if pk:
            pks.append(index[(name, pk)])
    for name, _, _, table_fks, _ in tables:
        fks += [[index[(name, c)], index[(rt, rc)]] for c, rt, rc in table_fks]
    names = [t[0] for t in tables]
    readable = [[t, c.replace("_", " ")] for t, c in columns]
    return {"db_id": db, "table_names_original": names, "table_names": [n.replace("_", " ") for n in names],
            "column_names_original": columns, "column_names": readable, "column_types": types,
            "primary_keys": pks, "foreign_keys": fks}


def main():
    for db, tables in DATABASES.items():
        write_database(db, tables)
    with open(os.path.join(HERE, "tables.json"), "w", encoding="utf-8") as f:
        json.dump([tables_entry(db, t) for db, t in DATABASES.items()], f, ensure_ascii=False, indent=1)
    train, dev = [], []
    for db, items in QUESTIONS.items():
        assert len(items) == 25, (db, len(items))
        for i, (en, de, sql) in enumerate(items):
            # shop is dev only (an unseen database); every fifth library/school question is held out too.
            split = dev if db == "shop" or i % 5 == 4 else train
            split.append({"db_id": db, "question": en, "query": sql, "language": "en"})
            split.append({"db_id": db, "question": de, "query": sql, "language": "de"})
    for name, records in (("train.json", train), ("dev.json", dev)):
        with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
            json.dump(records, f, ensure_ascii=False, indent=1)
            f.write("\n")
    print(f"wrote {len(train)} train and {len(dev)} dev questions over {len(DATABASES)} databases")


if __name__ == "__main__":
    main()
