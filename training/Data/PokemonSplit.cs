using System.Numerics;

namespace PunkGrid.Training.Data;

/// <summary>
/// A train/validation/test split of the Pokémon images, stratified by class and <b>duplicate-aware</b>: images whose
/// dHashes differ in at most <c>maxHamming</c> bits (scraped near-duplicates) are grouped, and a group goes to one
/// split whole. It also counts the near-duplicate pairs a naive random split (same fractions, image by image) would
/// have put on both sides — the leak behind the write-up's warning about its 99.93 %.
/// </summary>
public sealed class PokemonSplit
{
    public required IReadOnlyList<int> Train { get; init; }

    public required IReadOnlyList<int> Validation { get; init; }

    public required IReadOnlyList<int> Test { get; init; }

    /// <summary>The naive split (image by image, same fractions and seed), for comparison.</summary>
    public required (IReadOnlyList<int> Train, IReadOnlyList<int> Validation, IReadOnlyList<int> Test) Naive { get; init; }

    /// <summary>Pairs of images (same class) within the Hamming threshold.</summary>
    public int NearDuplicatePairs { get; init; }

    /// <summary>Groups of two or more near-duplicate images.</summary>
    public int DuplicateGroups { get; init; }

    /// <summary>Near-duplicate pairs split across train/validation/test by a naive random split with the same seed.</summary>
    public int NaiveCrossSplitPairs { get; init; }

    /// <summary>The same count for this split: 0 by construction.</summary>
    public int CrossSplitPairs { get; init; }

    public static PokemonSplit Create(IReadOnlyList<int> classes, IReadOnlyList<ulong> hashes, int seed,
        double validationFraction = 0.15, double testFraction = 0.15, int maxHamming = 5)
    {
        if (classes.Count != hashes.Count)
        {
            throw new ArgumentException($"{classes.Count} classes for {hashes.Count} hashes");
        }
        var n = classes.Count;
        var parent = Enumerable.Range(0, n).ToArray();
        int Find(int i) => parent[i] == i ? i : parent[i] = Find(parent[i]);
        var pairs = new List<(int A, int B)>();
        foreach (var members in Enumerable.Range(0, n).GroupBy(i => classes[i]))
        {
            var list = members.ToArray();
            for (var x = 0; x < list.Length; x++)
            {
                for (var y = x + 1; y < list.Length; y++)
                {
                    if (BitOperations.PopCount(hashes[list[x]] ^ hashes[list[y]]) <= maxHamming)
                    {
                        pairs.Add((list[x], list[y]));
                        parent[Find(list[x])] = Find(list[y]);
                    }
                }
            }
        }

        var random = new Random(seed);
        var aware = new int[n]; // 0 train, 1 validation, 2 test
        var naive = new int[n];
        foreach (var members in Enumerable.Range(0, n).GroupBy(i => classes[i]))
        {
            var count = members.Count();
            var wantTest = (int)Math.Round(count * testFraction);
            var wantValidation = (int)Math.Round(count * validationFraction);

            // Whole groups, in random order, fill test, then validation; the rest trains.
            var groups = members.GroupBy(Find).Select(g => g.ToArray()).OrderBy(_ => random.Next()).ToList();
            int test = 0, validation = 0;
            foreach (var group in groups)
            {
                var side = test < wantTest ? 2 : validation < wantValidation ? 1 : 0;
                (test, validation) = side == 2 ? (test + group.Length, validation) : side == 1 ? (test, validation + group.Length) : (test, validation);
                foreach (var i in group)
                {
                    aware[i] = side;
                }
            }

            // The naive split: the same fractions, image by image.
            var shuffled = members.OrderBy(_ => random.Next()).ToArray();
            for (var k = 0; k < shuffled.Length; k++)
            {
                naive[shuffled[k]] = k < wantTest ? 2 : k < wantTest + wantValidation ? 1 : 0;
            }
        }
        IReadOnlyList<int> Side(int side) => Enumerable.Range(0, n).Where(i => aware[i] == side).ToList();
        IReadOnlyList<int> NaiveSide(int side) => Enumerable.Range(0, n).Where(i => naive[i] == side).ToList();
        return new PokemonSplit
        {
            Train = Side(0),
            Validation = Side(1),
            Test = Side(2),
            Naive = (NaiveSide(0), NaiveSide(1), NaiveSide(2)),
            NearDuplicatePairs = pairs.Count,
            DuplicateGroups = Enumerable.Range(0, n).GroupBy(Find).Count(g => g.Count() > 1),
            NaiveCrossSplitPairs = pairs.Count(p => naive[p.A] != naive[p.B]),
            CrossSplitPairs = pairs.Count(p => aware[p.A] != aware[p.B]),
        };
    }
}
