using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace PunkGrid.Training.Checkpoints;

/// <summary>
/// The checkpoint file format, version 1:
/// <code>
/// "PGCKPT01" | header length (int32 LE) | header (UTF-8 JSON: kind, epoch, step, score, metadata,
/// sections [{name, length, sha256}]) | section bytes, in header order | SHA-256 of everything before it (32 bytes)
/// </code>
/// Decoding verifies the magic, every length, every section hash and the trailing hash, and names what is wrong.
/// </summary>
public static class CheckpointCodec
{
    private static readonly byte[] Magic = "PGCKPT01"u8.ToArray();
    private const int HashSize = 32;

    private sealed record SectionHeader(string Name, long Length, string Sha256);

    private sealed record Header(
        string Kind,
        int Epoch,
        long Step,
        double? Score,
        Dictionary<string, string> Metadata,
        List<SectionHeader> Sections);

    public static byte[] Encode(TrainingCheckpoint checkpoint)
    {
        var sections = checkpoint.Sections.Select(s =>
            new SectionHeader(s.Key, s.Value.LongLength, Convert.ToHexStringLower(SHA256.HashData(s.Value)))).ToList();
        var header = JsonSerializer.SerializeToUtf8Bytes(new Header(
            checkpoint.Kind, checkpoint.Epoch, checkpoint.Step, checkpoint.Score,
            new Dictionary<string, string>(checkpoint.Metadata), sections));

        using var stream = new MemoryStream();
        stream.Write(Magic);
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(length, header.Length);
        stream.Write(length);
        stream.Write(header);
        foreach (var section in checkpoint.Sections)
        {
            stream.Write(section.Value);
        }
        stream.Write(SHA256.HashData(stream.GetBuffer().AsSpan(0, (int)stream.Length)));
        return stream.ToArray();
    }

    /// <summary>
    /// Decodes and verifies a checkpoint. Any malformed input — truncated, corrupt, or self-consistent (its hashes match) but
    /// with a header that makes no sense — is a <see cref="CheckpointFormatException"/> naming what is wrong, never another
    /// exception, so the caller falls back to the previous checkpoint.
    /// </summary>
    public static TrainingCheckpoint Decode(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return DecodeChecked(bytes);
        }
        catch (Exception ex) when (ex is not CheckpointFormatException)
        {
            throw new CheckpointFormatException($"checkpoint cannot be decoded ({ex.GetType().Name}: {ex.Message})", ex);
        }
    }

    /// <summary>The largest section or header a checkpoint may declare (2 GiB: what one byte array holds).</summary>
    private const long MaxLength = int.MaxValue;

    private static TrainingCheckpoint DecodeChecked(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < Magic.Length + 4 + HashSize || !bytes[..Magic.Length].SequenceEqual(Magic))
        {
            throw new CheckpointFormatException(
                $"not a PunkGrid checkpoint: expected it to start with 'PGCKPT01' and be at least {Magic.Length + 4 + HashSize} bytes, got {bytes.Length} bytes");
        }
        var body = bytes[..^HashSize];
        if (!SHA256.HashData(body).AsSpan().SequenceEqual(bytes[^HashSize..]))
        {
            throw new CheckpointFormatException($"checkpoint is corrupt: its SHA-256 does not match its contents ({bytes.Length} bytes)");
        }
        var headerLength = BinaryPrimitives.ReadInt32LittleEndian(body[Magic.Length..]);
        var headerStart = Magic.Length + 4;
        if (headerLength <= 0 || headerStart + headerLength > body.Length)
        {
            throw new CheckpointFormatException($"checkpoint header length {headerLength} does not fit in {body.Length} bytes");
        }
        Header header;
        try
        {
            header = JsonSerializer.Deserialize<Header>(body.Slice(headerStart, headerLength))
                ?? throw new CheckpointFormatException("checkpoint header is empty");
        }
        catch (JsonException ex)
        {
            throw new CheckpointFormatException($"checkpoint header is not valid JSON: {ex.Message}", ex);
        }

        if (string.IsNullOrWhiteSpace(header.Kind) || header.Epoch < 0 || header.Step < 0 || header.Metadata is null || header.Sections is null
            || header.Score is double score && !double.IsFinite(score))
        {
            throw new CheckpointFormatException(
                $"checkpoint header is malformed: kind '{header.Kind}', epoch {header.Epoch}, step {header.Step}, score {header.Score?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}, " +
                $"metadata {(header.Metadata is null ? "missing" : "present")}, sections {(header.Sections is null ? "missing" : "present")}");
        }
        if (header.Metadata.Any(m => m.Value is null))
        {
            throw new CheckpointFormatException("checkpoint metadata has an entry without a value");
        }
        var sections = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var offset = (long)headerStart + headerLength;
        foreach (var section in header.Sections)
        {
            if (section is null || string.IsNullOrEmpty(section.Name) || section.Sha256 is null)
            {
                throw new CheckpointFormatException("checkpoint header lists a section without a name or hash");
            }
            if (sections.ContainsKey(section.Name))
            {
                throw new CheckpointFormatException($"checkpoint header lists section '{section.Name}' twice");
            }
            if (section.Length < 0 || section.Length > MaxLength || offset + section.Length > body.Length)
            {
                throw new CheckpointFormatException($"checkpoint section '{section.Name}' ({section.Length} bytes) runs past the end of the file");
            }
            var data = body.Slice((int)offset, (int)section.Length).ToArray();
            if (Convert.ToHexStringLower(SHA256.HashData(data)) != section.Sha256)
            {
                throw new CheckpointFormatException($"checkpoint section '{section.Name}' is corrupt: SHA-256 mismatch");
            }
            sections[section.Name] = data;
            offset += section.Length;
        }
        if (offset != body.Length)
        {
            throw new CheckpointFormatException($"checkpoint has {body.Length - offset} unexpected bytes after its sections");
        }
        return new TrainingCheckpoint(header.Kind, header.Epoch, header.Step, header.Score, header.Metadata, sections);
    }

    /// <summary>Checks that a checkpoint belongs to this kind of job and matches its settings, naming any mismatch.</summary>
    public static void RequireCompatible(TrainingCheckpoint checkpoint, string kind, IReadOnlyDictionary<string, string> expectedMetadata)
    {
        if (checkpoint.Kind != kind)
        {
            throw new CheckpointFormatException($"checkpoint is of kind '{checkpoint.Kind}', but this job is '{kind}'");
        }
        foreach (var (key, expected) in expectedMetadata)
        {
            if (!checkpoint.Metadata.TryGetValue(key, out var actual) || actual != expected)
            {
                throw new CheckpointFormatException(
                    $"checkpoint was written with {key}='{actual ?? "(missing)"}', but this job has {key}='{expected}'");
            }
        }
    }
}
