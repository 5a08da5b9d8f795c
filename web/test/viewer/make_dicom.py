#!/usr/bin/env python3
"""make_dicom.py: synthetic DICOM fixtures for the viewer's browser test, written with pydicom
(no numpy: rows are built as bytes and rotated, which is fast enough for 100 frames of 512x512).
All patient data is fake. Prints one JSON line per file: name, expected pixel statistics.

usage: make_dicom.py OUTDIR [FRAMES] [SIZE]
  mf16.dcm    FRAMES frames of SIZE x SIZE, 16-bit unsigned MONOCHROME2: a diagonal ramp
              (value = 64 * ((x + y + 8 * frame) mod SIZE)) that moves from frame to frame
  s16m1.dcm   one 256x256 frame, 16-bit signed MONOCHROME1: -1000 on the left half, +1000 on the
              right, so the left half must display bright
"""
import json
import sys
from array import array

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
MULTIFRAME_GRAY_WORD_SC = "1.2.840.10008.5.1.4.1.1.7.3"


def base_dataset(sop_class, rows, cols, frames):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = "Test^Viewer"
    ds.PatientID = "FAKE-0001"
    ds.StudyDate = "20240102"
    ds.Modality = "OT"
    ds.SeriesDescription = "medcrypt viewer test"
    ds.Rows = rows
    ds.Columns = cols
    ds.SamplesPerPixel = 1
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    return ds


def write(ds, path):
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.save_as(path, write_like_original=False)


def multiframe16(outdir, frames, size):
    ds = base_dataset(MULTIFRAME_GRAY_WORD_SC, size, size, frames)
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelRepresentation = 0
    ramp = array("H", [64 * x for x in range(size)]).tobytes()
    doubled = ramp + ramp
    chunks = []
    for frame in range(frames):
        for y in range(size):
            shift = 2 * ((y + 8 * frame) % size)
            chunks.append(doubled[shift:shift + 2 * size])
    ds.PixelData = b"".join(chunks)
    write(ds, f"{outdir}/mf16.dcm")
    mean = 64 * (size - 1) / 2
    return {"name": "mf16.dcm", "frames": frames, "size": size, "mean": mean, "max": 64 * (size - 1)}


def signed_mono1(outdir):
    size = 256
    ds = base_dataset(SECONDARY_CAPTURE, size, size, 1)
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.PixelRepresentation = 1
    row = array("h", [-1000] * (size // 2) + [1000] * (size // 2)).tobytes()
    ds.PixelData = row * size
    write(ds, f"{outdir}/s16m1.dcm")
    return {"name": "s16m1.dcm", "frames": 1, "size": size}


def main():
    outdir = sys.argv[1]
    frames = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 512
    for info in (multiframe16(outdir, frames, size), signed_mono1(outdir)):
        print(json.dumps(info))


if __name__ == "__main__":
    main()
