"""Object graphs: the binary-trees program of the Computer Language Benchmarks Game
(many short-lived trees of class instances and one long-lived tree), followed by a
doubly linked list of objects with a dict index that is built, spliced and walked.

    binary_trees.py DEPTH
"""

import sys

from benchutil import report


class Node:
    __slots__ = ("left", "right")

    def __init__(self, left, right):
        self.left = left
        self.right = right


def make(depth):
    if depth == 0:
        return Node(None, None)
    depth -= 1
    return Node(make(depth), make(depth))


def check(node):
    if node.left is None:
        return 1
    return 1 + check(node.left) + check(node.right)


class Item:
    """A linked-list element with an ordinary __dict__ (unlike Node)."""

    def __init__(self, key):
        self.key = key
        self.prev = None
        self.next = None
        self.payload = [key, str(key)]


def linked(n):
    """Builds a list of n items, unlinks every third one via the index, relinks the
    removed ones at the end, and returns a checksum of the walk."""
    index = {}
    head = tail = None
    for k in range(n):
        it = Item(k)
        index[k] = it
        if tail is None:
            head = tail = it
        else:
            tail.next = it
            it.prev = tail
            tail = it
    for k in range(0, n, 3):
        it = index[k]
        if it.prev is not None:
            it.prev.next = it.next
        else:
            head = it.next
        if it.next is not None:
            it.next.prev = it.prev
        else:
            tail = it.prev
        it.prev = tail
        it.next = None
        tail.next = it
        tail = it
    total, pos, it = 0, 0, head
    while it is not None:
        total = (total * 31 + it.key * (pos & 7) + len(it.payload[1])) & 0xFFFFFFFF
        pos += 1
        it = it.next
    return total, pos


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    min_depth = 4
    max_depth = max(min_depth + 2, n)
    stretch = max_depth + 1
    results = [f"stretch {stretch} {check(make(stretch))}"]
    long_lived = make(max_depth)
    for depth in range(min_depth, max_depth + 1, 2):
        iterations = 1 << (max_depth - depth + min_depth)
        total = 0
        for _ in range(iterations):
            total += check(make(depth))
        results.append(f"{iterations}x{depth} {total}")
    results.append(f"long {max_depth} {check(long_lived)}")
    lsum, llen = linked(1 << (n + 4))
    results.append(f"linked {llen} {lsum}")
    report("; ".join(results))


if __name__ == "__main__":
    main()
