using System.Buffers.Binary;
using System.Text;

namespace PunkGrid.Training.Native;

/// <summary>
/// Marks symbol-version needs in an ELF64 shared object as weak (<c>VER_FLG_WEAK</c>) so the dynamic
/// loader accepts a system library that lacks that version. Used for TorchSharp's
/// <c>libLibTorchSharp.so</c>, which declares <c>GLIBCXX_3.4.32</c> for a symbol it never calls.
/// </summary>
public static class ElfVersionNeedPatcher
{
    /// <summary>Flag bit in <c>Elf64_Vernaux.vna_flags</c>: a missing version is not fatal.</summary>
    public const ushort VerFlagWeak = 0x2;

    private const uint ShtGnuVerneed = 0x6ffffffe;

    /// <summary>A version need found in <c>.gnu.version_r</c>: the library it is for, the version and its flags.</summary>
    public sealed record VersionNeed(string File, string Version, ushort Flags, int FlagsOffset);

    /// <summary>Reads every version need of an ELF64 little-endian image.</summary>
    public static IReadOnlyList<VersionNeed> ReadVersionNeeds(ReadOnlySpan<byte> elf)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
        {
            throw new InvalidDataException("not an ELF file (bad magic)");
        }
        if (elf[4] != 2 || elf[5] != 1)
        {
            throw new InvalidDataException($"only 64-bit little-endian ELF is supported (class {elf[4]}, data {elf[5]})");
        }

        var sectionHeaderOffset = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(elf[0x28..]));
        int sectionHeaderSize = BinaryPrimitives.ReadUInt16LittleEndian(elf[0x3A..]);
        int sectionCount = BinaryPrimitives.ReadUInt16LittleEndian(elf[0x3C..]);

        var needs = new List<VersionNeed>();
        for (var i = 0; i < sectionCount; i++)
        {
            var header = elf.Slice(sectionHeaderOffset + (i * sectionHeaderSize), sectionHeaderSize);
            if (BinaryPrimitives.ReadUInt32LittleEndian(header[4..]) != ShtGnuVerneed)
            {
                continue;
            }

            var offset = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(header[0x18..]));
            var stringTableIndex = (int)BinaryPrimitives.ReadUInt32LittleEndian(header[0x28..]);
            var entryCount = (int)BinaryPrimitives.ReadUInt32LittleEndian(header[0x2C..]);
            var stringsHeader = elf.Slice(sectionHeaderOffset + (stringTableIndex * sectionHeaderSize), sectionHeaderSize);
            var strings = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(stringsHeader[0x18..]));

            var need = offset;
            for (var n = 0; n < entryCount; n++)
            {
                int auxCount = BinaryPrimitives.ReadUInt16LittleEndian(elf[(need + 2)..]);
                var file = ReadString(elf, strings + (int)BinaryPrimitives.ReadUInt32LittleEndian(elf[(need + 4)..]));
                var aux = need + (int)BinaryPrimitives.ReadUInt32LittleEndian(elf[(need + 8)..]);
                for (var a = 0; a < auxCount; a++)
                {
                    var flags = BinaryPrimitives.ReadUInt16LittleEndian(elf[(aux + 4)..]);
                    var version = ReadString(elf, strings + (int)BinaryPrimitives.ReadUInt32LittleEndian(elf[(aux + 8)..]));
                    needs.Add(new VersionNeed(file, version, flags, aux + 4));
                    aux += (int)BinaryPrimitives.ReadUInt32LittleEndian(elf[(aux + 12)..]);
                }
                need += (int)BinaryPrimitives.ReadUInt32LittleEndian(elf[(need + 12)..]);
            }
        }
        return needs;
    }

    /// <summary>Sets <see cref="VerFlagWeak"/> on every need of <paramref name="version"/>; returns how many were changed.</summary>
    public static int MarkWeak(Span<byte> elf, string version)
    {
        var changed = 0;
        foreach (var need in ReadVersionNeeds(elf))
        {
            if (need.Version == version && (need.Flags & VerFlagWeak) == 0)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(elf[need.FlagsOffset..], (ushort)(need.Flags | VerFlagWeak));
                changed++;
            }
        }
        return changed;
    }

    private static string ReadString(ReadOnlySpan<byte> elf, int offset)
    {
        var end = elf[offset..].IndexOf((byte)0);
        return Encoding.ASCII.GetString(elf.Slice(offset, end < 0 ? elf.Length - offset : end));
    }
}
