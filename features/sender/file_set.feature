@actor:sender
Feature: The file set a sender makes
  Inside the envelope lies an IHE PDI file set, the same a CD or DVD would hold, so that every
  PDI reader and importer can read it. Each rule of DICOM media and IHE PDI is judged on the
  file set the sending hospital actually made. The controls break that same file set one way at
  a time and show that the judgement then fails: a check that cannot fail proves nothing.

  @CPDI-CONT-01 @option:core @required
  Scenario Outline: The sender's file set meets <requirement>
    Given a referral study of 3 CT images for patient "山田 太郎"
    And the referral also carries "a referral letter"
    When the sending hospital sends the study to the receiving hospital
    Then the file set in the envelope meets <requirement>
    And the file set in the envelope is a PDI file set

    @PDI-STRUCT-01
    Examples: DICOMDIR, README.TXT and the DICOM tree at the root, and nothing else but options
      | requirement   |
      | PDI-STRUCT-01 |

    @PDI-DIR-01
    Examples: exactly one DICOMDIR, at the root
      | requirement |
      | PDI-DIR-01  |

    @PDI-DIR-02
    Examples: DICOMDIR is a Basic Directory in Explicit VR Little Endian
      | requirement |
      | PDI-DIR-02  |

    @PDI-DIR-03
    Examples: every file referenced, every reference resolved
      | requirement |
      | PDI-DIR-03  |

    @PDI-DIR-04
    Examples: one PATIENT record per patient ID
      | requirement |
      | PDI-DIR-04  |

    @PDI-NAME-01
    Examples: file ID components of 1 to 8 upper-case letters, digits and underscores
      | requirement |
      | PDI-NAME-01 |

    @PDI-NAME-02
    Examples: no file name extensions on DICOM files
      | requirement |
      | PDI-NAME-02 |

    @PDI-NAME-03
    Examples: at most 8 levels of folders
      | requirement |
      | PDI-NAME-03 |

    @PDI-NAME-04
    Examples: upper-case 8.3 names for files that are not DICOM
      | requirement |
      | PDI-NAME-04 |

    @PDI-FMI-01
    Examples: preamble, DICM prefix and File Meta Information in every DICOM file
      | requirement |
      | PDI-FMI-01  |

    @PDI-FMI-03
    Examples: File Meta Information that names the dataset's own SOP Class and Instance
      | requirement |
      | PDI-FMI-03  |

    @PDI-TS-01
    Examples: transfer syntaxes of the application profile
      | requirement |
      | PDI-TS-01   |

    @PDI-CONT-01
    Examples: nothing but DICOM files in the DICOM tree
      | requirement |
      | PDI-CONT-01 |

    @PDI-AUTORUN-01
    Examples: nothing that starts by itself
      | requirement    |
      | PDI-AUTORUN-01 |

    @PDI-README-01
    Examples: README.TXT names the institution's contact and the creating application
      | requirement   |
      | PDI-README-01 |

    @PDI-CONS-01
    Examples: patient, study and series attributes agree across all files
      | requirement |
      | PDI-CONS-01 |

    @PDI-MEDIA-ZIP-01
    Examples: one file set per ZIP file, DICOMDIR at its root
      | requirement      |
      | PDI-MEDIA-ZIP-01 |

  @PDI-TS-01 @option:core @required
  Scenario Outline: Images held in <syntax> never leave in a transfer syntax outside the profile
    A sender may convert the images or refuse to send them; either way no file set outside the
    application profile reaches the repository.

    Given a referral study of 3 CT images for patient "山田 太郎"
    And the sending hospital's PACS holds the images in <syntax>
    When the sending hospital sends the study to the receiving hospital
    Then nothing that breaks PDI-TS-01 reaches the repository

    Examples: transfer syntaxes a PACS may hold
      | syntax                             |
      | Explicit VR Little Endian          |
      | Implicit VR Little Endian          |
      | Deflated Explicit VR Little Endian |
      | RLE Lossless                       |
      | JPEG Lossless                      |
      | JPEG Baseline                      |
      | JPEG 2000 Lossless                 |

  @option:core @optional
  Scenario Outline: A file set with <defect> fails <requirement>
    These are controls: they grade the judgement rather than the sender, so the sender's grade
    does not count them, but a control that passes no defect means the verdicts above are void.

    Given the sending hospital has sent a referral study of 3 CT images for patient "山田 太郎"
    When the file set in the envelope is broken: <defect>
    Then the file set in the envelope fails <requirement>

    @PDI-STRUCT-01
    Examples: the root holds only regular files
      | defect                          | requirement   |
      | a symbolic link in the file set | PDI-STRUCT-01 |

    @PDI-DIR-01
    Examples: exactly one DICOMDIR
      | defect                              | requirement |
      | DICOMDIR removed                    | PDI-DIR-01  |
      | a second DICOMDIR in the DICOM tree | PDI-DIR-01  |

    @PDI-DIR-02
    Examples: a well-formed Basic Directory
      | defect                                        | requirement |
      | DICOMDIR in Implicit VR                       | PDI-DIR-02  |
      | DICOMDIR not a Basic Directory                | PDI-DIR-02  |
      | records linked in a loop                      | PDI-DIR-02  |
      | a lower-level offset past the end of DICOMDIR | PDI-DIR-02  |
      | DICOMDIR cut in the middle of its last record | PDI-DIR-02  |

    @PDI-DIR-03
    Examples: DICOMDIR and the files agree
      | defect                                                                    | requirement |
      | a DICOM file no record references                                         | PDI-DIR-03  |
      | a referenced file removed                                                 | PDI-DIR-03  |
      | a record's Referenced SOP Instance UID in File differs from the file's    | PDI-DIR-03  |
      | a record's Referenced Transfer Syntax UID in File differs from the file's | PDI-DIR-03  |

    @PDI-DIR-04
    Examples: one PATIENT record per patient ID
      | defect                                  | requirement |
      | two PATIENT records with one Patient ID | PDI-DIR-04  |

    @PDI-NAME-01
    Examples: file ID components
      | defect                            | requirement |
      | a DICOM file name in lower case   | PDI-NAME-01 |
      | a DICOM file name of 9 characters | PDI-NAME-01 |

    @PDI-NAME-02
    Examples: no extensions
      | defect                      | requirement |
      | a DICOM file name with .DCM | PDI-NAME-02 |

    @PDI-NAME-03
    Examples: at most 8 levels
      | defect                     | requirement |
      | a DICOM file 9 levels deep | PDI-NAME-03 |

    @PDI-NAME-04
    Examples: 8.3 names for other files
      | defect                                 | requirement |
      | a document with a name longer than 8.3 | PDI-NAME-04 |

    @PDI-FMI-01
    Examples: preamble and DICM prefix
      | defect                           | requirement |
      | a file without preamble and DICM | PDI-FMI-01  |

    @PDI-FMI-03
    Examples: File Meta Information matches the dataset
      | defect                                                    | requirement |
      | Media Storage SOP Instance UID differs from the dataset's | PDI-FMI-03  |

    @PDI-TS-01
    Examples: transfer syntaxes of STD-GEN-CD
      | defect                                                        | requirement |
      | a file in Deflated Explicit VR Little Endian under STD-GEN-CD | PDI-TS-01   |
      | a file in RLE Lossless under STD-GEN-CD                       | PDI-TS-01   |

    @PDI-CONT-01
    Examples: only DICOM in the DICOM tree
      | defect                            | requirement |
      | a text file inside the DICOM tree | PDI-CONT-01 |

    @PDI-WEB-01
    Examples: web content only in IHE_PDI, INDEX.HTM at the root
      | defect                                            | requirement |
      | an HTML page outside IHE_PDI                      | PDI-WEB-01  |
      | IHE_PDI web content without INDEX.HTM at the root | PDI-WEB-01  |

    @PDI-AUTORUN-01
    Examples: nothing that starts by itself
      | defect                           | requirement    |
      | AUTORUN.INF at the root          | PDI-AUTORUN-01 |
      | a Windows executable at the root | PDI-AUTORUN-01 |

    @PDI-README-01
    Examples: README.TXT at the root
      | defect             | requirement   |
      | README.TXT removed | PDI-README-01 |

    @PDI-CONS-01
    Examples: consistent attributes
      | defect                                                | requirement |
      | one file of the study has another Patient Name        | PDI-CONS-01 |
      | one file of the series has another Modality           | PDI-CONS-01 |
      | the STUDY record's Study Date differs from the files' | PDI-CONS-01 |

    @PDI-MEDIA-ZIP-01
    Examples: one file set per ZIP file
      | defect                                | requirement      |
      | a ZIP whose file set lies in a folder | PDI-MEDIA-ZIP-01 |
      | a ZIP holding a second file set       | PDI-MEDIA-ZIP-01 |
      | a ZIP entry named ../ESCAPE.TXT       | PDI-MEDIA-ZIP-01 |
      | a damaged ZIP file                    | PDI-MEDIA-ZIP-01 |

  @PDI-WEB-01 @option:web-content @required
  Scenario: Web content lives in IHE_PDI and mirrors the DICOM content
    Given a referral study of 3 CT images for patient "山田 太郎"
    And the sending hospital adds web content for viewing the study in a browser
    When the sending hospital sends the study to the receiving hospital
    Then the file set in the envelope meets PDI-WEB-01
    And the web content shows every image of the study
