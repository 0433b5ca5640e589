using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace PunkGrid.Training.Data;

/// <summary>
/// Frozen layers' activations kept on a worker's disk, so jobs that would compute the same ones (the trials of a Pokémon
/// search with a frozen or partly frozen backbone) compute them once. An entry is a file named by the SHA-256 of its key
/// (backbone and its weights, layers, image size, images, which of them and whether mirrored): a header (the key, the
/// shape, the SHA-256 of the values) and the float32 values. Every read is verified — the key matches and the values
/// hash to the header's digest — and an entry that does not is recomputed and replaced (with a warning), never used.
/// Entries are written to a temporary file and renamed into place, so a reader never sees half of one.
/// </summary>
public sealed partial class ActivationCache(string directory)
{
    private static readonly byte[] Magic = "PGACT1\n"u8.ToArray();
    private const int RowsPerChunk = 64;

    public string Directory { get; } = directory;

    /// <summary>Where a worker keeps its entries unless told otherwise: <c>punkgrid-activations</c> in the temporary folder.</summary>
    public static string DefaultDirectory => Path.Combine(Path.GetTempPath(), "punkgrid-activations");

    private sealed record Header(Dictionary<string, string> Key, long[] Shape, string Sha256);

    /// <summary>The entry for <paramref name="key"/> read and verified, else <paramref name="compute"/>'s result, stored for next time.</summary>
    public Tensor GetOrCompute(IReadOnlyDictionary<string, string> key, Func<Tensor> compute, ILogger logger, out bool fromCache)
    {
        var canonical = new SortedDictionary<string, string>(key.ToDictionary(), StringComparer.Ordinal);
        var name = Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(canonical)));
        var path = Path.Combine(Directory, $"{name}.act");
        if (File.Exists(path))
        {
            try
            {
                var read = Read(path, canonical);
                fromCache = true;
                LogHit(logger, path, string.Join("x", read.shape));
                return read;
            }
            catch (Exception ex) when (ex is InvalidDataException or IOException or JsonException)
            {
                LogRejected(logger, path, ex.Message);
                TryDelete(path);
            }
        }
        fromCache = false;
        var computed = compute();
        try
        {
            Write(path, canonical, computed);
        }
        catch (IOException ex)
        {
            LogNotStored(logger, path, ex.Message); // a full or read-only disk costs the next job the computation, nothing else
        }
        return computed;
    }

    private static Tensor Read(string path, SortedDictionary<string, string> key)
    {
        using var file = File.OpenRead(path);
        Span<byte> magic = stackalloc byte[Magic.Length];
        file.ReadExactly(magic);
        if (!magic.SequenceEqual(Magic))
        {
            throw new InvalidDataException("not an activation cache entry");
        }
        Span<byte> length = stackalloc byte[4];
        file.ReadExactly(length);
        var headerBytes = new byte[BinaryPrimitives.ReadInt32LittleEndian(length)];
        file.ReadExactly(headerBytes);
        var header = JsonSerializer.Deserialize<Header>(headerBytes) ?? throw new InvalidDataException("no header");
        if (!new SortedDictionary<string, string>(header.Key, StringComparer.Ordinal).SequenceEqual(key))
        {
            throw new InvalidDataException("its key is another's");
        }
        var rows = header.Shape[0];
        var rowLength = header.Shape.Skip(1).Aggregate(1L, (a, b) => a * b);
        if (file.Length - file.Position != rows * rowLength * sizeof(float))
        {
            throw new InvalidDataException($"it holds {file.Length - file.Position} bytes of values, not {rows * rowLength * sizeof(float)}");
        }
        var result = empty(header.Shape, ScalarType.Float32);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new float[RowsPerChunk * rowLength];
        for (long start = 0; start < rows; start += RowsPerChunk)
        {
            var count = (int)Math.Min(RowsPerChunk, rows - start);
            var values = buffer.AsSpan(0, (int)(count * rowLength));
            var bytes = MemoryMarshal.AsBytes(values);
            file.ReadExactly(bytes);
            hash.AppendData(bytes);
            using var scope = NewDisposeScope();
            result.narrow(0, start, count).copy_(tensor(values.ToArray()).reshape([count, .. header.Shape.Skip(1)]));
        }
        if (Convert.ToHexStringLower(hash.GetHashAndReset()) != header.Sha256)
        {
            result.Dispose();
            throw new InvalidDataException("its values do not hash to its digest");
        }
        return result;
    }

    private void Write(string path, SortedDictionary<string, string> key, Tensor values)
    {
        System.IO.Directory.CreateDirectory(Directory);
        var temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            // A scope, not `using`: on the CPU these may hand back the computed tensor itself, which the caller still holds.
            using var copies = NewDisposeScope();
            var cpu = values.to(ScalarType.Float32).cpu().contiguous();
            var rows = cpu.shape[0];
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            using (var file = File.Create(temporary))
            {
                // The header's digest is written last: a placeholder of the same length first.
                var header = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new Header(key.ToDictionary(), cpu.shape, new string('0', 64))));
                file.Write(Magic);
                Span<byte> length = stackalloc byte[4];
                BinaryPrimitives.WriteInt32LittleEndian(length, header.Length);
                file.Write(length);
                var headerAt = file.Position;
                file.Write(header);
                for (long start = 0; start < rows; start += RowsPerChunk)
                {
                    using var scope = NewDisposeScope();
                    var chunk = cpu.narrow(0, start, Math.Min(RowsPerChunk, rows - start)).contiguous();
                    var bytes = MemoryMarshal.AsBytes(chunk.data<float>().ToArray().AsSpan());
                    hash.AppendData(bytes);
                    file.Write(bytes);
                }
                file.Position = headerAt;
                file.Write(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new Header(key.ToDictionary(), cpu.shape, Convert.ToHexStringLower(hash.GetHashAndReset())))));
            }
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            TryDelete(temporary);
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Frozen activations read from the cache ({Path}, {Shape}), verified")]
    private static partial void LogHit(ILogger logger, string path, string shape);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Activation cache entry {Path} refused ({Reason}): computing it again")]
    private static partial void LogRejected(ILogger logger, string path, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Activation cache entry {Path} could not be stored ({Reason}); the next job computes it again")]
    private static partial void LogNotStored(ILogger logger, string path, string reason);
}
