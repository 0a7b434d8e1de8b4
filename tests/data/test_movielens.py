"""MovieLens readers: GroupLens .dat (read_movielens_dat) and RecBole atomic (read_recbole_inter)."""
import gzip
from pathlib import Path

import pytest

from textcode.data.errors import DataError
from textcode.data.readers.movielens import read_movielens_dat, read_recbole_inter

MOVIES = ["1::Toy Story (1995)::Animation|Children's|Comedy",
          "10::Misérables, Les (1995)::Drama|Musical",
          "2::Jumanji (1995)::Adventure|Children's|Fantasy",
          "3::Never Rated (1995)::Comedy"]
RATINGS = ["7::10::5::978300760", "7::2::1::978300100", "2::2::4::978300200",
           "7::1::3::978300100", "2::1::5::978300050"]


def write_dat(folder: Path, ratings_name="ratings.dat", movies=MOVIES, ratings=RATINGS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "movies.dat").write_bytes("".join(m + "\n" for m in movies).encode("latin-1"))
    data = "".join(r + "\n" for r in ratings).encode("latin-1")
    if ratings_name.endswith(".gz"):
        with gzip.open(folder / ratings_name, "wb") as f:
            f.write(data)
    else:
        (folder / ratings_name).write_bytes(data)
    return folder


@pytest.mark.parametrize("ratings_name", ["ratings.dat", "ratings.PARTIAL.dat.gz"])
def test_dat_reads_latin1_titles_and_sorts_by_time(tmp_path, ratings_name):
    d = read_movielens_dat(write_dat(tmp_path, ratings_name), "ml")
    d.validate("ml")
    assert d.item_ids.tolist() == ["1", "2", "10"]  # numeric order; movie 3 was never rated
    assert d.item_text.tolist() == ["Toy Story (1995). Animation Children's Comedy.",
                                    "Jumanji (1995). Adventure Children's Fantasy.",
                                    "Misérables, Les (1995). Drama Musical."]
    assert d.user_ids.tolist() == ["2", "7"]
    # user 7: movies 2 and 1 tie at 978300100 and keep their file order
    assert [d.sequence(u).tolist() for u in range(2)] == [[0, 1], [1, 0, 2]]
    assert d.times.tolist() == [978300050, 978300200, 978300100, 978300100, 978300760]


def test_dat_ties_keep_file_order_in_long_runs(tmp_path):
    # unstable sorts keep ties in order by accident on tiny or all-equal inputs; 60 ratings at 3 times do not
    movies = [f"{m}::Movie {m} (2000)::Drama" for m in range(1, 61)]
    events = [((7 * k) % 60 + 1, 978300000 + (k * 5) % 3) for k in range(60)]  # (movie, one of 3 times)
    ratings = [f"1::{m}::4::{t}" for m, t in events]
    d = read_movielens_dat(write_dat(tmp_path, movies=movies, ratings=ratings), "ml")
    assert d.item_ids[d.sequence(0)].tolist() == [str(m) for m, _ in sorted(events, key=lambda e: e[1])]


def test_dat_needs_exactly_one_ratings_file(tmp_path):
    folder = write_dat(tmp_path)
    write_dat(tmp_path, "ratings.PARTIAL.dat.gz")
    with pytest.raises(DataError, match="exactly one.*found ratings.PARTIAL.dat.gz, ratings.dat") as err:
        read_movielens_dat(folder, "ml")
    assert err.value.path == str(folder)
    (folder / "ratings.dat").unlink()
    (folder / "ratings.PARTIAL.dat.gz").unlink()
    with pytest.raises(DataError, match="found none"):
        read_movielens_dat(folder, "ml")


@pytest.mark.parametrize("line, text, message", [
    (3, "2::2::4", "found 3 field"),                       # unparsable line
    (2, "7::1::3::soon", "Timestamp 'soon' is not an integer"),  # wrong type
    (4, "7::x::1::978300100", "MovieID 'x' is not an integer"),
    (5, "2::1::five::978300050", "Rating 'five' is not a number"),
    (4, "7::99::1::978300100", "movie 99 is not in movies.dat"),  # unknown item
])
@pytest.mark.parametrize("ratings_name", ["ratings.dat", "ratings.dat.gz"])
def test_dat_bad_rating_names_file_and_line(tmp_path, ratings_name, line, text, message):
    ratings = list(RATINGS)
    ratings[line - 1] = text
    folder = write_dat(tmp_path, ratings_name, ratings=ratings)
    with pytest.raises(DataError, match=message) as err:
        read_movielens_dat(folder, "ml")
    assert (err.value.path, err.value.line) == (str(folder / ratings_name), line)


@pytest.mark.parametrize("line, text, message", [
    (2, "10::Misérables, Les (1995)", "expected MovieID::Title::Genres"),
    (3, "1::Again (1995)::Drama", "movie 1 appears twice"),
    (4, "3::  ::", "empty text for movie 3"),
])
def test_dat_bad_movie_names_file_and_line(tmp_path, line, text, message):
    movies = list(MOVIES)
    movies[line - 1] = text
    folder = write_dat(tmp_path, movies=movies)
    with pytest.raises(DataError, match=message) as err:
        read_movielens_dat(folder, "ml")
    assert (err.value.path, err.value.line) == (str(folder / "movies.dat"), line)


# ----------------------------------------------------------------------------- RecBole atomic

INTER = ["user_id:token\titem_id:token\trating:float\ttimestamp:float",
         "196\t242\t3\t881250949", "186\t302\t3\t891717742", "196\t302\t4\t881250900", "186\t242\t1\t891717742"]
ITEM = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq",
        "242\tKolya\t1996\tComedy", "302\tL.A. Confidential\t1997\tCrime Film-Noir Mystery Thriller",
        "5\tCopycat\t1995\tCrime Drama Thriller"]


def write_atomic(folder: Path, inter=INTER, item=ITEM) -> Path:
    (folder / "ml.inter").write_text("".join(line + "\n" for line in inter))
    (folder / "ml.item").write_text("".join(line + "\n" for line in item))
    return folder


def test_recbole_inter_reads_ml100k_layout(tmp_path):
    d = read_recbole_inter(write_atomic(tmp_path), "ml", "ml")
    d.validate("ml")
    assert d.item_ids.tolist() == ["242", "302"]
    assert d.item_text.tolist() == ["Kolya (1996). Comedy.", "L.A. Confidential (1997). Crime Film-Noir Mystery Thriller."]
    assert d.user_ids.tolist() == ["186", "196"]
    assert [d.sequence(u).tolist() for u in range(2)] == [[1, 0], [1, 0]]  # 186: tie keeps file order
    assert d.times.tolist() == [891717742, 891717742, 881250900, 881250949]


@pytest.mark.parametrize("file, line, text, message", [
    ("ml.inter", 3, "186\t302\t3\t891717742.5", "timestamp 891717742.5 is not an integer"),  # wrong type
    ("ml.inter", 4, "196\t999\t4\t881250900", "item 999 is not in ml.item"),                # unknown item
    ("ml.inter", 2, "196\t242\t3", "expected 4 tab-separated fields"),                     # unparsable
    ("ml.item", 3, "302\t\t\t", "empty text for item 302"),
    ("ml.item", 4, "242\tKolya\t1996\tComedy", "item 242 appears twice"),
])
def test_recbole_inter_bad_rows_name_file_and_line(tmp_path, file, line, text, message):
    inter, item = list(INTER), list(ITEM)
    (inter if file == "ml.inter" else item)[line - 1] = text
    folder = write_atomic(tmp_path, inter, item)
    with pytest.raises(DataError, match=message) as err:
        read_recbole_inter(folder, "ml", "ml")
    assert (err.value.path, err.value.line) == (str(folder / file), line)


def test_recbole_inter_missing_column_is_named(tmp_path):
    inter = ["user_id:token\titem_id:token\trating:float"] + [r.rsplit("\t", 1)[0] for r in INTER[1:]]
    folder = write_atomic(tmp_path, inter=inter)
    with pytest.raises(DataError, match="missing column.*timestamp") as err:
        read_recbole_inter(folder, "ml", "ml")
    assert (err.value.path, err.value.line) == (str(folder / "ml.inter"), 1)


# ----------------------------------------------------------------------------- shared data

@pytest.mark.shared
def test_ml100k_counts(shared_data):
    d = read_recbole_inter(shared_data / "movielens" / "ml-100k", "ml-100k", "ml-100k")
    d.validate("ml-100k")
    assert d.counts() == {"users": 943, "items": 1682, "interactions": 100000}
    assert d.lengths().min() == 20  # every ML-100K user rated at least 20 movies
    assert d.item_text[0] == "Toy Story (1995). Animation Children's Comedy."


@pytest.mark.shared
def test_ml1m_partial_ratings_counts(shared_data):
    d = read_movielens_dat(shared_data / "movielens" / "ml-1m", "ml-1m-partial")
    d.validate("ml-1m-partial")
    # SOURCES.md: 487,650 ratings of users 1..2999 on 3,615 distinct movies
    assert d.counts() == {"users": 2999, "items": 3615, "interactions": 487650}
    assert d.user_ids[0] == "1" and d.user_ids[-1] == "2999"
    assert "Misérables, Les (1995). Drama Musical." in set(d.item_text)  # decoded as Latin-1
