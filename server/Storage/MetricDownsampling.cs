namespace PunkGrid.Server.Storage;

/// <summary>
/// How a metric series of <c>count</c> points on steps <c>first..last</c> is cut into at most <c>points</c> ranges: ranges of
/// <see cref="Plan.Width"/> steps from <see cref="Plan.Base"/>, each shown as the mean of its points. When the ranges are
/// 64 steps wide or more they are whole multiples of the 64-step blocks that <c>metric_blocks</c> rolls up, and the curve
/// is read from the blocks; the means are exact either way.
/// </summary>
public static class MetricDownsampling
{
    /// <summary>Steps per rolled-up block (<c>step &gt;&gt; 6</c> in migration 0008).</summary>
    public const int BlockSteps = 64;

    public enum Source
    {
        /// <summary>No more points than asked for: every point as stored.</summary>
        Points,

        /// <summary>Ranges narrower than a block: averaged from the points.</summary>
        PointRanges,

        /// <summary>Ranges of whole blocks: averaged from the blocks (and the points of a block cut by the cursor).</summary>
        Blocks,
    }

    public readonly record struct Cut(Source Source, long Base, long Width);

    /// <summary>The first block wholly after the cursor <paramref name="after"/> (steps greater than it are wanted).</summary>
    public static long FirstWholeBlock(long after) => (after + BlockSteps) >> 6;

    public static Cut Plan(long count, long first, long last, int points)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(points, 1);
        if (count <= points)
        {
            return new Cut(Source.Points, first, 1);
        }
        // floor((last - base) / width) < points keeps the number of ranges at or below points.
        var width = (last - first) / points + 1;
        if (width < BlockSteps)
        {
            return new Cut(Source.PointRanges, first, width);
        }
        var aligned = first >> 6 << 6;
        var blockWidth = (last - aligned) / points + 1;
        return new Cut(Source.Blocks, aligned, (blockWidth + BlockSteps - 1) / BlockSteps * BlockSteps);
    }
}
