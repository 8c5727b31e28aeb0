"""chargehub.read_again_after: an answer kept by the process until its TTL or forget()."""

from django.test import override_settings

from chargehub.read_again_after import ReadAgainAfter


def counting_reader() -> tuple[list[int], ReadAgainAfter[int]]:
    reads: list[int] = []

    def read() -> int:
        reads.append(len(reads) + 1)
        return len(reads)

    return reads, ReadAgainAfter(read, "TEST_READ_AGAIN_TTL")


@override_settings(TEST_READ_AGAIN_TTL=3600)
def test_the_answer_is_read_once_and_kept_until_forgotten() -> None:
    reads, answer = counting_reader()
    assert (answer.get(), answer.get(), answer.get()) == (1, 1, 1)
    answer.forget()
    assert (answer.get(), answer.get()) == (2, 2)
    assert reads == [1, 2]


@override_settings(TEST_READ_AGAIN_TTL=0)
def test_a_ttl_of_zero_reads_every_time() -> None:
    reads, answer = counting_reader()
    assert (answer.get(), answer.get()) == (1, 2)
    assert reads == [1, 2]
